#pragma once

// Helpers for the PMML engine's unit tests: wrap an inline document body,
// substitute "$KEY" placeholders, load and evaluate through the public API.

#include <cmath>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "pmml/pmml.h"
#include "pmml/value.h"

namespace evs::pmml::test_util {

std::string Doc(std::string_view body) {
  return std::string(R"(<?xml version="1.0"?><PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header/>)") +
         std::string(body) + "</PMML>";
}

// Replaces every "$KEY" in `text`.
std::string Sub(std::string text, const std::vector<std::pair<std::string, std::string>>& subs) {
  for (const auto& [k, v] : subs) {
    std::string key = "$" + k;
    for (size_t pos = text.find(key); pos != std::string::npos; pos = text.find(key, pos + v.size())) {
      text.replace(pos, key.size(), v);
    }
  }
  return text;
}

class Harness {
 public:
  explicit Harness(const std::string& xml) {
    auto m = CompiledModel::Load(xml);
    status_ = m.status();
    if (m.ok()) {
      model_ = std::move(*m);
      ctx_ = model_->NewContext();
    }
  }
  const absl::Status& status() const { return status_; }
  bool ok() const { return status_.ok(); }

  absl::Status Eval(const std::vector<std::pair<std::string, Value>>& inputs) {
    ctx_->BeginRecord();
    for (const auto& [name, value] : inputs) {
      int i = model_->InputIndex(name);
      if (i < 0) return absl::NotFoundError("no input " + name);
      model_->SetInput(*ctx_, i, value);
    }
    return model_->Evaluate(*ctx_);
  }

  Value Out(std::string_view name) {
    const auto& outs = model_->outputs();
    for (size_t i = 0; i < outs.size(); ++i) {
      if (outs[i].name == name) return model_->Output(*ctx_, static_cast<int>(i));
    }
    ADD_FAILURE() << "no output " << name;
    return Value();
  }
  double Num(std::string_view name) {
    Value v = Out(name);
    if (v.missing()) return NAN;
    if (v.is_string()) return std::stod(v.str);
    return v.num;
  }
  std::string Str(std::string_view name) {
    Value v = Out(name);
    if (v.missing()) return "<missing>";
    return FormatValue(v);
  }
  CompiledModel& model() { return *model_; }
  EvalContext& ctx() { return *ctx_; }

 private:
  absl::Status status_;
  std::unique_ptr<CompiledModel> model_;
  std::unique_ptr<EvalContext> ctx_;
};

}  // namespace evs::pmml::test_util
