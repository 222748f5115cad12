#include "spark/pipeline.h"
#include <gtest/gtest.h>
