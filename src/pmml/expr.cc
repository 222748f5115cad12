#include "pmml/expr.h"
