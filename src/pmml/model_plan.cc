#include "pmml/model.h"
