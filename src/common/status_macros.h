#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// RETURN_IF_ERROR(expr): returns the status from the enclosing function when
// expr is not OK. ASSIGN_OR_RETURN(lhs, expr): unwraps a StatusOr or returns.
#define EVS_CONCAT_INNER(a, b) a##b
#define EVS_CONCAT(a, b) EVS_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status evs_status_ = (expr);       \
    if (!evs_status_.ok()) return evs_status_; \
  } while (0)

#define EVS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(*tmp)

#define ASSIGN_OR_RETURN(lhs, expr) \
  EVS_ASSIGN_OR_RETURN_IMPL(EVS_CONCAT(evs_statusor_, __LINE__), lhs, expr)
