// In progress (issue 5): owned by the spark core work.
#include "spark/pipeline.h"
