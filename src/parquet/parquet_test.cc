#include "parquet/parquet.h"
#include <gtest/gtest.h>
