#include "pmml/document.h"
#include "pmml/model.h"

namespace evs::pmml {

absl::StatusOr<std::unique_ptr<Model>> CompileAssociationModel(const ModelCompileArgs& args) {
  return ElementError(args.element, "model type not supported yet");
}

}  // namespace evs::pmml
