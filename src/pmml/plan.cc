#include "pmml/plan.h"
