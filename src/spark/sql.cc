// In progress (issue 5).
#include "spark/stage.h"
namespace evs::spark {
void RegisterSqlStages(StageRegistry&) {}
}
