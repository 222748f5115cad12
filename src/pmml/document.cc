#include "pmml/document.h"
