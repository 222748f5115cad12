#include "pmml/pmml.h"
