#include "pmml/value.h"
