#include "transform/expr.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "common/json_writer.h"
#include "fmt/format.h"

namespace evs::transform {
namespace {

enum class Op : uint8_t {
  kNumber, kString, kBool, kNull, kField,
  kNeg, kNot,
  kMul, kDiv, kMod, kAdd, kSub,
  kLt, kLe, kGt, kGe, kEq, kNe,
  kAnd, kOr,
  kCall,
};

enum class Fn : uint8_t {
  kNone, kAbs, kMin, kMax, kPow, kSqrt, kExp, kLog, kLog10, kFloor, kCeil,
  kRound, kIf, kIsMissing, kIsPresent, kCoalesce, kLower, kUpper, kLen,
  kConcat, kToNumber, kToString,
};

struct FnInfo {
  std::string_view name;
  Fn fn;
  int min_args;
  int max_args;  // -1: variadic
};

constexpr FnInfo kFunctions[] = {
    {"abs", Fn::kAbs, 1, 1},           {"min", Fn::kMin, 1, -1},
    {"max", Fn::kMax, 1, -1},          {"pow", Fn::kPow, 2, 2},
    {"sqrt", Fn::kSqrt, 1, 1},         {"exp", Fn::kExp, 1, 1},
    {"log", Fn::kLog, 1, 1},           {"log10", Fn::kLog10, 1, 1},
    {"floor", Fn::kFloor, 1, 1},       {"ceil", Fn::kCeil, 1, 1},
    {"round", Fn::kRound, 1, 2},       {"if", Fn::kIf, 3, 3},
    {"is_missing", Fn::kIsMissing, 1, 1}, {"is_present", Fn::kIsPresent, 1, 1},
    {"coalesce", Fn::kCoalesce, 1, -1}, {"lower", Fn::kLower, 1, 1},
    {"upper", Fn::kUpper, 1, 1},       {"len", Fn::kLen, 1, 1},
    {"concat", Fn::kConcat, 1, -1},    {"to_number", Fn::kToNumber, 1, 1},
    {"to_string", Fn::kToString, 1, 1},
};

const FnInfo* FindFunction(std::string_view name) {
  for (const FnInfo& f : kFunctions)
    if (f.name == name) return &f;
  return nullptr;
}

// Tree depth limit: keeps parsing and evaluation recursion far from the
// stack limit of small threads.
constexpr int kMaxDepth = 256;

struct Node {
  Op op = Op::kNull;
  Fn fn = Fn::kNone;
  uint32_t pos = 0;  // 1-based source position
  int32_t lhs = -1;  // operand node indices (unary: lhs only)
  int32_t rhs = -1;
  uint32_t arg_begin = 0;  // call arguments: args[arg_begin, arg_begin + arg_count)
  uint32_t arg_count = 0;
  double num = 0;   // number and bool literals
  std::string str;  // string literal, field name, operator or function name
};

// An intermediate result. Strings are borrowed (from the record or a literal)
// when possible and owned only when computed, so numeric evaluation never
// allocates.
struct Slot {
  ValueType type = ValueType::kNull;
  double num = 0;
  const std::string* ref = nullptr;
  std::string own;

  const std::string& str() const { return ref != nullptr ? *ref : own; }
  void SetNumber(double d) {
    type = ValueType::kNumber;
    num = d;
  }
  void SetBool(bool b) {
    type = ValueType::kBool;
    num = b ? 1 : 0;
  }
  void SetNull() { type = ValueType::kNull; }
  void SetRef(ValueType t, const std::string* s) {
    type = t;
    ref = s;
  }
  void SetOwned(std::string s) {
    type = ValueType::kString;
    ref = nullptr;
    own = std::move(s);
  }
  void SetValue(const Value& v) {
    type = v.type();
    num = v.as_number();
    ref = &v.as_string();
  }
};

enum class FaultCode : uint8_t { kMissing, kType, kNonFinite };

// An evaluation failure; turned into an EventError only at the top so that
// is_missing/coalesce can absorb missing fields cheaply.
struct Fault {
  FaultCode code = FaultCode::kMissing;
  int32_t node = -1;     // failing node (the field node for kMissing)
  int32_t operand = -1;  // offending operand node, if any
  bool null_field = false;
  std::string detail;
};

bool Truthy(const Slot& s) {
  switch (s.type) {
    case ValueType::kNull: return false;
    case ValueType::kBool:
    case ValueType::kNumber: return s.num != 0;
    case ValueType::kString: return !s.str().empty();
    case ValueType::kRaw: return true;
  }
  return false;
}

void AppendSlotString(const Slot& s, std::string* out) {
  switch (s.type) {
    case ValueType::kNull: out->append("null"); break;
    case ValueType::kBool: out->append(s.num != 0 ? "true" : "false"); break;
    case ValueType::kNumber: AppendJsonNumber(s.num, out); break;
    case ValueType::kString:
    case ValueType::kRaw: out->append(s.str()); break;
  }
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' ||
                        s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' ||
                        s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

bool ParseNumber(std::string_view s, double* out) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'))
      return false;
  }
  size_t start = 0;
  if (s[0] == '+') {
    start = 1;
    if (s.size() > 1 && s[1] == '-') return false;
  }
  double d = 0;
  auto [ptr, ec] = std::from_chars(s.data() + start, s.data() + s.size(), d);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(d)) return false;
  *out = d;
  return true;
}

void AppendValueString(const Value& v, std::string* out) {
  switch (v.type()) {
    case ValueType::kNull: out->append("null"); break;
    case ValueType::kBool: out->append(v.as_bool() ? "true" : "false"); break;
    case ValueType::kNumber: AppendJsonNumber(v.as_number(), out); break;
    case ValueType::kString:
    case ValueType::kRaw: out->append(v.as_string()); break;
  }
}

std::string ValueString(const Value& v) {
  std::string s;
  AppendValueString(v, &s);
  return s;
}

// ---------------------------------------------------------------------------
// Program: the node table and its evaluator.

struct Expr::Program {
  std::vector<Node> nodes;
  std::vector<int32_t> args;
  int32_t root = -1;

  bool Eval(int32_t i, const Record& r, Slot* out, Fault* f) const;
  bool Call(int32_t i, const Record& r, Slot* out, Fault* f) const;
  bool EvalNumberArg(int32_t call, int32_t arg, const Record& r, Slot* out, Fault* f) const;
  bool TypeFault(int32_t node, int32_t operand, std::string detail, Fault* f) const;
  bool Finite(int32_t node, double d, Slot* out, Fault* f) const;
  void ToError(const Fault& f, EventError* err) const;
};

bool Expr::Program::TypeFault(int32_t node, int32_t operand, std::string detail,
                              Fault* f) const {
  f->code = FaultCode::kType;
  f->node = node;
  f->operand = operand;
  f->detail = std::move(detail);
  return false;
}

bool Expr::Program::Finite(int32_t node, double d, Slot* out, Fault* f) const {
  if (!std::isfinite(d)) {
    f->code = FaultCode::kNonFinite;
    f->node = node;
    f->operand = -1;
    f->detail = std::isnan(d) ? "NaN" : (d > 0 ? "inf" : "-inf");
    return false;
  }
  out->SetNumber(d);
  return true;
}

bool Expr::Program::EvalNumberArg(int32_t call, int32_t arg, const Record& r, Slot* out,
                                  Fault* f) const {
  if (!Eval(arg, r, out, f)) return false;
  if (out->type != ValueType::kNumber)
    return TypeFault(call, arg, fmt::format("expected a number, got {}", ValueTypeName(out->type)),
                     f);
  return true;
}

bool Expr::Program::Eval(int32_t i, const Record& r, Slot* out, Fault* f) const {
  const Node& n = nodes[i];
  switch (n.op) {
    case Op::kNumber: out->SetNumber(n.num); return true;
    case Op::kString: out->SetRef(ValueType::kString, &n.str); return true;
    case Op::kBool: out->SetBool(n.num != 0); return true;
    case Op::kNull: out->SetNull(); return true;
    case Op::kField: {
      const Value* v = r.Find(n.str);
      if (v == nullptr || v->is_null()) {
        f->code = FaultCode::kMissing;
        f->node = i;
        f->operand = -1;
        f->null_field = v != nullptr;
        return false;
      }
      out->SetValue(*v);
      return true;
    }
    case Op::kNeg:
      if (!EvalNumberArg(i, n.lhs, r, out, f)) return false;
      out->num = -out->num;
      return true;
    case Op::kNot:
      if (!Eval(n.lhs, r, out, f)) return false;
      out->SetBool(!Truthy(*out));
      return true;
    case Op::kAnd:
    case Op::kOr: {
      if (!Eval(n.lhs, r, out, f)) return false;
      bool t = Truthy(*out);
      if (t == (n.op == Op::kOr)) {
        out->SetBool(t);
        return true;
      }
      if (!Eval(n.rhs, r, out, f)) return false;
      out->SetBool(Truthy(*out));
      return true;
    }
    case Op::kCall: return Call(i, r, out, f);
    default: break;
  }

  // Binary operators: both operands are evaluated.
  if (!Eval(n.lhs, r, out, f)) return false;
  Slot b;
  if (!Eval(n.rhs, r, &b, f)) return false;
  const Slot& a = *out;
  switch (n.op) {
    case Op::kEq:
    case Op::kNe: {
      bool eq;
      if (a.type != b.type) {
        eq = false;
      } else if (a.type == ValueType::kNull) {
        eq = true;
      } else if (a.type == ValueType::kString || a.type == ValueType::kRaw) {
        eq = a.str() == b.str();
      } else {
        eq = a.num == b.num;
      }
      out->SetBool(eq == (n.op == Op::kEq));
      return true;
    }
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe: {
      int c;
      if (a.type == ValueType::kNumber && b.type == ValueType::kNumber) {
        if (a.num < b.num) {
          c = -1;
        } else if (a.num > b.num) {
          c = 1;
        } else if (a.num == b.num) {
          c = 0;
        } else {  // NaN in the record: every ordering is false
          out->SetBool(false);
          return true;
        }
      } else if (a.type == ValueType::kString && b.type == ValueType::kString) {
        c = a.str().compare(b.str());
      } else {
        bool a_ok = a.type == ValueType::kNumber || a.type == ValueType::kString;
        int32_t bad = a_ok ? n.rhs : n.lhs;
        return TypeFault(i, bad,
                         fmt::format("cannot order {} and {}", ValueTypeName(a.type),
                                     ValueTypeName(b.type)),
                         f);
      }
      bool res = n.op == Op::kLt   ? c < 0
                 : n.op == Op::kLe ? c <= 0
                 : n.op == Op::kGt ? c > 0
                                   : c >= 0;
      out->SetBool(res);
      return true;
    }
    default: break;
  }

  // Arithmetic.
  if (n.op == Op::kAdd && a.type == ValueType::kString && b.type == ValueType::kString) {
    std::string s;
    s.reserve(a.str().size() + b.str().size());
    s.append(a.str()).append(b.str());
    out->SetOwned(std::move(s));
    return true;
  }
  if (a.type != ValueType::kNumber || b.type != ValueType::kNumber) {
    bool a_bad = a.type != ValueType::kNumber;
    ValueType got = a_bad ? a.type : b.type;
    return TypeFault(i, a_bad ? n.lhs : n.rhs,
                     fmt::format("expected numbers, got {}", ValueTypeName(got)), f);
  }
  double x = a.num, y = b.num, res;
  switch (n.op) {
    case Op::kAdd: res = x + y; break;
    case Op::kSub: res = x - y; break;
    case Op::kMul: res = x * y; break;
    case Op::kDiv:
      if (y == 0) {
        f->code = FaultCode::kNonFinite;
        f->node = i;
        f->operand = -1;
        f->detail = "division by zero";
        return false;
      }
      res = x / y;
      break;
    case Op::kMod:
      if (y == 0) {
        f->code = FaultCode::kNonFinite;
        f->node = i;
        f->operand = -1;
        f->detail = "modulo by zero";
        return false;
      }
      res = std::fmod(x, y);
      break;
    default: res = 0; break;
  }
  return Finite(i, res, out, f);
}

bool Expr::Program::Call(int32_t i, const Record& r, Slot* out, Fault* f) const {
  const Node& n = nodes[i];
  const int32_t* argv = args.data() + n.arg_begin;
  const uint32_t argc = n.arg_count;
  switch (n.fn) {
    case Fn::kAbs:
    case Fn::kSqrt:
    case Fn::kExp:
    case Fn::kLog:
    case Fn::kLog10:
    case Fn::kFloor:
    case Fn::kCeil: {
      if (!EvalNumberArg(i, argv[0], r, out, f)) return false;
      double x = out->num, res = 0;
      switch (n.fn) {
        case Fn::kAbs: res = std::fabs(x); break;
        case Fn::kSqrt: res = std::sqrt(x); break;
        case Fn::kExp: res = std::exp(x); break;
        case Fn::kLog: res = std::log(x); break;
        case Fn::kLog10: res = std::log10(x); break;
        case Fn::kFloor: res = std::floor(x); break;
        case Fn::kCeil: res = std::ceil(x); break;
        default: break;
      }
      return Finite(i, res, out, f);
    }
    case Fn::kRound: {
      if (!EvalNumberArg(i, argv[0], r, out, f)) return false;
      double x = out->num;
      if (argc == 1) return Finite(i, std::round(x), out, f);
      Slot d;
      if (!EvalNumberArg(i, argv[1], r, &d, f)) return false;
      if (d.num != std::trunc(d.num) || d.num < -15 || d.num > 15)
        return TypeFault(i, argv[1], "digits must be an integer in [-15, 15]", f);
      double scale = std::pow(10.0, d.num);
      double scaled = x * scale;
      // Values too large to have a fractional part at this scale stay as is.
      double res = std::fabs(scaled) < 4503599627370496.0 ? std::round(scaled) / scale : x;
      return Finite(i, res, out, f);
    }
    case Fn::kMin:
    case Fn::kMax: {
      if (!EvalNumberArg(i, argv[0], r, out, f)) return false;
      double best = out->num;
      Slot s;
      for (uint32_t k = 1; k < argc; ++k) {
        if (!EvalNumberArg(i, argv[k], r, &s, f)) return false;
        best = n.fn == Fn::kMin ? std::min(best, s.num) : std::max(best, s.num);
      }
      return Finite(i, best, out, f);
    }
    case Fn::kPow: {
      if (!EvalNumberArg(i, argv[0], r, out, f)) return false;
      Slot y;
      if (!EvalNumberArg(i, argv[1], r, &y, f)) return false;
      return Finite(i, std::pow(out->num, y.num), out, f);
    }
    case Fn::kIf: {
      if (!Eval(argv[0], r, out, f)) return false;
      return Eval(Truthy(*out) ? argv[1] : argv[2], r, out, f);
    }
    case Fn::kIsMissing:
    case Fn::kIsPresent: {
      bool missing;
      if (Eval(argv[0], r, out, f)) {
        missing = out->type == ValueType::kNull;
      } else if (f->code == FaultCode::kMissing) {
        missing = true;
      } else {
        return false;
      }
      out->SetBool(missing == (n.fn == Fn::kIsMissing));
      return true;
    }
    case Fn::kCoalesce: {
      // The first present, non-null argument; else the last one's outcome.
      for (uint32_t k = 0; k + 1 < argc; ++k) {
        if (Eval(argv[k], r, out, f)) {
          if (out->type != ValueType::kNull) return true;
        } else if (f->code != FaultCode::kMissing) {
          return false;
        }
      }
      return Eval(argv[argc - 1], r, out, f);
    }
    case Fn::kLower:
    case Fn::kUpper:
    case Fn::kLen: {
      if (!Eval(argv[0], r, out, f)) return false;
      if (out->type != ValueType::kString)
        return TypeFault(i, argv[0],
                         fmt::format("expected a string, got {}", ValueTypeName(out->type)), f);
      if (n.fn == Fn::kLen) {
        size_t count = 0;
        for (char c : out->str())
          if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++count;
        out->SetNumber(static_cast<double>(count));
        return true;
      }
      std::string s = out->str();
      for (char& c : s) {
        if (n.fn == Fn::kLower && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (n.fn == Fn::kUpper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      }
      out->SetOwned(std::move(s));
      return true;
    }
    case Fn::kConcat: {
      std::string s;
      Slot part;
      for (uint32_t k = 0; k < argc; ++k) {
        if (!Eval(argv[k], r, &part, f)) return false;
        AppendSlotString(part, &s);
      }
      out->SetOwned(std::move(s));
      return true;
    }
    case Fn::kToString: {
      if (!Eval(argv[0], r, out, f)) return false;
      if (out->type == ValueType::kString) return true;
      std::string s;
      AppendSlotString(*out, &s);
      out->SetOwned(std::move(s));
      return true;
    }
    case Fn::kToNumber: {
      if (!Eval(argv[0], r, out, f)) return false;
      switch (out->type) {
        case ValueType::kNumber: return true;
        case ValueType::kBool: out->SetNumber(out->num); return true;
        case ValueType::kString: {
          double d;
          if (ParseNumber(TrimSpace(out->str()), &d)) {
            out->SetNumber(d);
            return true;
          }
          return TypeFault(i, argv[0], fmt::format("cannot convert '{}' to a number", out->str()),
                           f);
        }
        default:
          return TypeFault(i, argv[0],
                           fmt::format("cannot convert {} to a number", ValueTypeName(out->type)),
                           f);
      }
    }
    case Fn::kNone: break;
  }
  out->SetNull();
  return true;
}

void Expr::Program::ToError(const Fault& f, EventError* err) const {
  err->stage = "transform";
  const Node& n = nodes[f.node];
  switch (f.code) {
    case FaultCode::kMissing:
      err->code = "missing_field";
      err->message = fmt::format("field '{}' is {}", n.str, f.null_field ? "null" : "missing");
      return;
    case FaultCode::kType: {
      err->code = "type_error";
      err->message = fmt::format("{} '{}': {}", n.op == Op::kCall ? "function" : "operator", n.str,
                                 f.detail);
      if (f.operand >= 0 && nodes[f.operand].op == Op::kField)
        err->message += fmt::format(" (field '{}')", nodes[f.operand].str);
      return;
    }
    case FaultCode::kNonFinite:
      err->code = "non_finite";
      err->message = fmt::format("{} '{}' produced a non-finite result ({})",
                                 n.op == Op::kCall ? "function" : "operator", n.str, f.detail);
      return;
  }
}

// ---------------------------------------------------------------------------
// Parser: recursive descent over an on-the-fly tokenizer.

namespace {

enum class Tok : uint8_t { kEnd, kNumber, kString, kIdent, kQuotedIdent, kSymbol };

struct Token {
  Tok kind = Tok::kEnd;
  size_t begin = 0;  // 0-based offsets into the source
  size_t end = 0;
  double num = 0;
  std::string text;  // string value, identifier or symbol
};

bool IsIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9') || c == '.'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

class ExprParser {
 public:
  ExprParser(std::string_view src, Expr::Program* prog, std::vector<std::string>* fields)
      : src_(src), prog_(prog), fields_(fields) {}

  absl::Status Run() {
    if (absl::Status s = Advance(); !s.ok()) return s;
    if (tok_.kind == Tok::kEnd) return Error(tok_.begin, "an expression");
    int32_t root;
    if (absl::Status s = ParseOr(&root); !s.ok()) return s;
    if (tok_.kind != Tok::kEnd) return Error(tok_.begin, "an operator or end of input");
    prog_->root = root;
    return absl::OkStatus();
  }

 private:
  using Status = absl::Status;

  std::string Describe(const Token& t) const {
    if (t.kind == Tok::kEnd) return "end of input";
    std::string_view s = src_.substr(t.begin, t.end - t.begin);
    if (s.size() > 24) return fmt::format("'{}...'", s.substr(0, 21));
    return fmt::format("'{}'", s);
  }

  Status Error(size_t offset, std::string_view expected) const {
    return absl::InvalidArgumentError(
        fmt::format("position {}: expected {}, found {}", offset + 1, expected, Describe(tok_)));
  }
  Status ErrorAt(size_t offset, std::string_view message) const {
    return absl::InvalidArgumentError(fmt::format("position {}: {}", offset + 1, message));
  }

  // Reads the next token into tok_.
  Status Advance() {
    size_t i = pos_;
    while (i < src_.size() &&
           (src_[i] == ' ' || src_[i] == '\t' || src_[i] == '\n' || src_[i] == '\r'))
      ++i;
    tok_ = Token();
    tok_.begin = i;
    if (i >= src_.size()) {
      tok_.end = pos_ = i;
      return absl::OkStatus();
    }
    char c = src_[i];
    if (IsDigit(c) || (c == '.' && i + 1 < src_.size() && IsDigit(src_[i + 1]))) {
      size_t j = i;
      while (j < src_.size() && IsDigit(src_[j])) ++j;
      if (j < src_.size() && src_[j] == '.') {
        ++j;
        while (j < src_.size() && IsDigit(src_[j])) ++j;
      }
      if (j < src_.size() && (src_[j] == 'e' || src_[j] == 'E')) {
        ++j;
        if (j < src_.size() && (src_[j] == '+' || src_[j] == '-')) ++j;
        if (j >= src_.size() || !IsDigit(src_[j])) return ErrorAt(j, "expected exponent digits");
        while (j < src_.size() && IsDigit(src_[j])) ++j;
      }
      if (j < src_.size() && IsIdentChar(src_[j]))
        return ErrorAt(j, fmt::format("unexpected character '{}' after number", src_[j]));
      double d = 0;
      auto [ptr, ec] = std::from_chars(src_.data() + i, src_.data() + j, d);
      if (ec != std::errc() || ptr != src_.data() + j || !std::isfinite(d))
        return ErrorAt(i, "number out of range");
      tok_.kind = Tok::kNumber;
      tok_.num = d;
      tok_.end = pos_ = j;
      return absl::OkStatus();
    }
    if (c == '\'' || c == '"' || c == '`') {
      std::string value;
      size_t j = i + 1;
      for (;;) {
        if (j >= src_.size())
          return ErrorAt(i, c == '`' ? "unterminated quoted name" : "unterminated string");
        char d = src_[j];
        if (d == c) break;
        if (d != '\\') {
          value.push_back(d);
          ++j;
          continue;
        }
        if (j + 1 >= src_.size())
          return ErrorAt(i, c == '`' ? "unterminated quoted name" : "unterminated string");
        char e = src_[j + 1];
        j += 2;
        switch (e) {
          case '\\': value.push_back('\\'); break;
          case '\'': value.push_back('\''); break;
          case '"': value.push_back('"'); break;
          case '`': value.push_back('`'); break;
          case '/': value.push_back('/'); break;
          case 'n': value.push_back('\n'); break;
          case 't': value.push_back('\t'); break;
          case 'r': value.push_back('\r'); break;
          case 'u': {
            uint32_t cp = 0;
            if (j + 4 > src_.size()) return ErrorAt(j - 2, "expected 4 hex digits after \\u");
            for (size_t k = 0; k < 4; ++k) {
              char h = src_[j + k];
              uint32_t v;
              if (h >= '0' && h <= '9') v = h - '0';
              else if (h >= 'a' && h <= 'f') v = h - 'a' + 10;
              else if (h >= 'A' && h <= 'F') v = h - 'A' + 10;
              else return ErrorAt(j - 2, "expected 4 hex digits after \\u");
              cp = cp * 16 + v;
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
              return ErrorAt(j - 2, "surrogate code points are not supported in \\u escapes");
            AppendUtf8(cp, &value);
            j += 4;
            break;
          }
          default:
            return ErrorAt(j - 2, fmt::format("unknown escape '\\{}'", e));
        }
      }
      if (c == '`' && value.empty()) return ErrorAt(i, "empty quoted name");
      tok_.kind = c == '`' ? Tok::kQuotedIdent : Tok::kString;
      tok_.text = std::move(value);
      tok_.end = pos_ = j + 1;
      return absl::OkStatus();
    }
    if (IsIdentStart(c)) {
      size_t j = i;
      while (j < src_.size() && IsIdentChar(src_[j])) ++j;
      tok_.kind = Tok::kIdent;
      tok_.text = std::string(src_.substr(i, j - i));
      tok_.end = pos_ = j;
      return absl::OkStatus();
    }
    static constexpr std::string_view kTwo[] = {"<=", ">=", "==", "!=", "&&", "||"};
    for (std::string_view s : kTwo) {
      if (src_.substr(i, 2) == s) {
        tok_.kind = Tok::kSymbol;
        tok_.text = std::string(s);
        tok_.end = pos_ = i + 2;
        return absl::OkStatus();
      }
    }
    if (c == '=') return ErrorAt(i, "unexpected '=' (use '==' to compare)");
    if (c == '&') return ErrorAt(i, "unexpected '&' (use '&&' or 'and')");
    if (c == '|') return ErrorAt(i, "unexpected '|' (use '||' or 'or')");
    static constexpr std::string_view kOne = "<>!+-*/%(),";
    if (kOne.find(c) != std::string_view::npos) {
      tok_.kind = Tok::kSymbol;
      tok_.text = std::string(1, c);
      tok_.end = pos_ = i + 1;
      return absl::OkStatus();
    }
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return ErrorAt(i, fmt::format("unexpected character (byte 0x{:02x})",
                                    static_cast<unsigned char>(c)));
    return ErrorAt(i, fmt::format("unexpected character '{}'", c));
  }

  // Whether the first non-blank character after the current token is `c`.
  bool NextCharIs(char c) const {
    size_t i = src_.find_first_not_of(" \t\r\n", tok_.end);
    return i != std::string_view::npos && src_[i] == c;
  }

  bool IsSymbol(std::string_view s) const { return tok_.kind == Tok::kSymbol && tok_.text == s; }
  bool IsKeyword(std::string_view s) const { return tok_.kind == Tok::kIdent && tok_.text == s; }

  int Depth(int32_t node) const { return node < 0 ? 0 : depth_[node]; }

  Status Add(Node n, int depth, int32_t* out) {
    if (depth > kMaxDepth) return ErrorAt(n.pos - 1, "expression is too deeply nested");
    prog_->nodes.push_back(std::move(n));
    depth_.push_back(depth);
    *out = static_cast<int32_t>(prog_->nodes.size() - 1);
    return absl::OkStatus();
  }

  Status AddBinary(Op op, std::string name, size_t offset, int32_t lhs, int32_t rhs,
                   int32_t* out) {
    Node n;
    n.op = op;
    n.pos = static_cast<uint32_t>(offset + 1);
    n.lhs = lhs;
    n.rhs = rhs;
    n.str = std::move(name);
    return Add(std::move(n), 1 + std::max(Depth(lhs), Depth(rhs)), out);
  }

  Status ParseOr(int32_t* out) {
    if (Status s = ParseAnd(out); !s.ok()) return s;
    while (IsKeyword("or") || IsSymbol("||")) {
      size_t at = tok_.begin;
      std::string name = tok_.text;
      if (Status s = Advance(); !s.ok()) return s;
      int32_t rhs;
      if (Status s = ParseAnd(&rhs); !s.ok()) return s;
      if (Status s = AddBinary(Op::kOr, name, at, *out, rhs, out); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  Status ParseAnd(int32_t* out) {
    if (Status s = ParseNot(out, 0); !s.ok()) return s;
    while (IsKeyword("and") || IsSymbol("&&")) {
      size_t at = tok_.begin;
      std::string name = tok_.text;
      if (Status s = Advance(); !s.ok()) return s;
      int32_t rhs;
      if (Status s = ParseNot(&rhs, 0); !s.ok()) return s;
      if (Status s = AddBinary(Op::kAnd, name, at, *out, rhs, out); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // The keyword `not` binds looser than comparisons (`not a > 3` is
  // `not (a > 3)`, as in Python and SQL); `!` is a tight unary operator.
  Status ParseNot(int32_t* out, int nesting) {
    if (!IsKeyword("not")) return ParseCmp(out);
    if (nesting > kMaxDepth) return ErrorAt(tok_.begin, "expression is too deeply nested");
    size_t at = tok_.begin;
    if (Status s = Advance(); !s.ok()) return s;
    int32_t operand;
    if (Status s = ParseNot(&operand, nesting + 1); !s.ok()) return s;
    Node n;
    n.op = Op::kNot;
    n.pos = static_cast<uint32_t>(at + 1);
    n.lhs = operand;
    n.str = "not";
    return Add(std::move(n), 1 + Depth(operand), out);
  }

  Status ParseCmp(int32_t* out) {
    if (Status s = ParseAdd(out); !s.ok()) return s;
    if (tok_.kind != Tok::kSymbol) return absl::OkStatus();
    Op op;
    const std::string& t = tok_.text;
    if (t == "<") op = Op::kLt;
    else if (t == "<=") op = Op::kLe;
    else if (t == ">") op = Op::kGt;
    else if (t == ">=") op = Op::kGe;
    else if (t == "==") op = Op::kEq;
    else if (t == "!=") op = Op::kNe;
    else return absl::OkStatus();
    size_t at = tok_.begin;
    std::string name = tok_.text;
    if (Status s = Advance(); !s.ok()) return s;
    int32_t rhs;
    if (Status s = ParseAdd(&rhs); !s.ok()) return s;
    return AddBinary(op, name, at, *out, rhs, out);
  }

  Status ParseAdd(int32_t* out) {
    if (Status s = ParseMul(out); !s.ok()) return s;
    while (IsSymbol("+") || IsSymbol("-")) {
      Op op = tok_.text == "+" ? Op::kAdd : Op::kSub;
      size_t at = tok_.begin;
      std::string name = tok_.text;
      if (Status s = Advance(); !s.ok()) return s;
      int32_t rhs;
      if (Status s = ParseMul(&rhs); !s.ok()) return s;
      if (Status s = AddBinary(op, name, at, *out, rhs, out); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  Status ParseMul(int32_t* out) {
    if (Status s = ParseUnary(out, 0); !s.ok()) return s;
    while (IsSymbol("*") || IsSymbol("/") || IsSymbol("%")) {
      Op op = tok_.text == "*" ? Op::kMul : tok_.text == "/" ? Op::kDiv : Op::kMod;
      size_t at = tok_.begin;
      std::string name = tok_.text;
      if (Status s = Advance(); !s.ok()) return s;
      int32_t rhs;
      if (Status s = ParseUnary(&rhs, 0); !s.ok()) return s;
      if (Status s = AddBinary(op, name, at, *out, rhs, out); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // `nesting` counts recursive descents without a node yet (unary chains,
  // parentheses), bounding parser recursion.
  Status ParseUnary(int32_t* out, int nesting) {
    if (nesting > kMaxDepth || nest_ > kMaxDepth)
      return ErrorAt(tok_.begin, "expression is too deeply nested");
    if (IsSymbol("-") || IsSymbol("!")) {
      Op op = tok_.text == "-" ? Op::kNeg : Op::kNot;
      size_t at = tok_.begin;
      std::string name = tok_.text;
      if (Status s = Advance(); !s.ok()) return s;
      int32_t operand;
      if (Status s = ParseUnary(&operand, nesting + 1); !s.ok()) return s;
      // Fold negative number literals so "-1" is a constant.
      if (op == Op::kNeg && prog_->nodes[operand].op == Op::kNumber &&
          operand == static_cast<int32_t>(prog_->nodes.size()) - 1) {
        prog_->nodes[operand].num = -prog_->nodes[operand].num;
        prog_->nodes[operand].pos = static_cast<uint32_t>(at + 1);
        *out = operand;
        return absl::OkStatus();
      }
      Node n;
      n.op = op;
      n.pos = static_cast<uint32_t>(at + 1);
      n.lhs = operand;
      n.str = std::move(name);
      return Add(std::move(n), 1 + Depth(operand), out);
    }
    return ParsePrimary(out);
  }

  Status ParsePrimary(int32_t* out) {
    size_t at = tok_.begin;
    Node n;
    n.op = Op::kNull;
    n.pos = static_cast<uint32_t>(at + 1);
    switch (tok_.kind) {
      case Tok::kNumber:
        n.op = Op::kNumber;
        n.num = tok_.num;
        break;
      case Tok::kString:
        n.op = Op::kString;
        n.str = std::move(tok_.text);
        break;
      case Tok::kQuotedIdent:
        n.op = Op::kField;
        n.str = std::move(tok_.text);
        break;
      case Tok::kIdent: {
        const std::string& t = tok_.text;
        if (t == "true" || t == "false") {
          n.op = Op::kBool;
          n.num = t == "true" ? 1 : 0;
        } else if (t == "null") {
          n.op = Op::kNull;
        } else if (t == "and" || t == "or" || t == "not") {  // keywords, not fields
          return Error(at, "an operand");
        } else if (NextCharIs('(')) {
          return ParseCall(out);
        } else {
          n.op = Op::kField;
          n.str = t;
        }
        break;
      }
      case Tok::kSymbol:
        if (tok_.text == "(") {
          if (Status s = Advance(); !s.ok()) return s;
          ++nest_;
          Status s = ParseOr(out);
          --nest_;
          if (!s.ok()) return s;
          if (!IsSymbol(")")) return Error(tok_.begin, "')'");
          return Advance();
        }
        return Error(at, "an operand");
      case Tok::kEnd:
        return Error(at, "an operand");
    }
    if (n.op == Op::kField &&
        std::find(fields_->begin(), fields_->end(), n.str) == fields_->end())
      fields_->push_back(n.str);
    if (Status s = Add(std::move(n), 1, out); !s.ok()) return s;
    return Advance();
  }

  Status ParseCall(int32_t* out) {
    size_t at = tok_.begin;
    std::string name = tok_.text;
    const FnInfo* info = FindFunction(name);
    if (info == nullptr) return ErrorAt(at, fmt::format("unknown function '{}'", name));
    if (Status s = Advance(); !s.ok()) return s;  // name
    if (Status s = Advance(); !s.ok()) return s;  // '('
    std::vector<int32_t> argv;
    int depth = 0;
    if (!IsSymbol(")")) {
      for (;;) {
        int32_t arg;
        ++nest_;
        Status s = ParseOr(&arg);
        --nest_;
        if (!s.ok()) return s;
        argv.push_back(arg);
        depth = std::max(depth, Depth(arg));
        if (IsSymbol(")")) break;
        if (!IsSymbol(",")) return Error(tok_.begin, "',' or ')'");
        if (Status s2 = Advance(); !s2.ok()) return s2;
      }
    }
    int argc = static_cast<int>(argv.size());
    if (argc < info->min_args || (info->max_args >= 0 && argc > info->max_args)) {
      std::string want;
      if (info->max_args < 0)
        want = fmt::format("at least {}", info->min_args);
      else if (info->min_args == info->max_args)
        want = fmt::format("{}", info->min_args);
      else
        want = fmt::format("{} to {}", info->min_args, info->max_args);
      return ErrorAt(at, fmt::format("function '{}' takes {} argument{}, got {}", name, want,
                                     want == "1" ? "" : "s", argc));
    }
    Node n;
    n.op = Op::kCall;
    n.fn = info->fn;
    n.pos = static_cast<uint32_t>(at + 1);
    n.str = std::move(name);
    n.arg_begin = static_cast<uint32_t>(prog_->args.size());
    n.arg_count = static_cast<uint32_t>(argc);
    prog_->args.insert(prog_->args.end(), argv.begin(), argv.end());
    if (Status s = Add(std::move(n), depth + 1, out); !s.ok()) return s;
    return Advance();  // ')'
  }

  std::string_view src_;
  Expr::Program* prog_;
  std::vector<std::string>* fields_;
  std::vector<int> depth_;  // tree depth per node
  Token tok_;
  size_t pos_ = 0;  // offset after tok_
  int nest_ = 0;    // open parentheses / call argument lists
};

// ---------------------------------------------------------------------------

Expr::Expr() = default;
Expr::~Expr() = default;

absl::StatusOr<std::shared_ptr<const Expr>> Expr::Parse(std::string_view text) {
  std::shared_ptr<Expr> e(new Expr());
  e->text_ = std::string(text);
  e->program_ = std::make_unique<Program>();
  ExprParser parser(e->text_, e->program_.get(), &e->fields_);
  if (absl::Status s = parser.Run(); !s.ok()) return s;
  return std::shared_ptr<const Expr>(std::move(e));
}

bool Expr::Eval(const Record& r, Value* out, EventError* err) const {
  Slot s;
  Fault f;
  if (!program_->Eval(program_->root, r, &s, &f)) {
    program_->ToError(f, err);
    return false;
  }
  switch (s.type) {
    case ValueType::kNull: *out = Value::Null(); break;
    case ValueType::kBool: *out = Value::Bool(s.num != 0); break;
    case ValueType::kNumber: *out = Value::Number(s.num); break;
    case ValueType::kString:
      *out = Value::String(s.ref != nullptr ? *s.ref : std::move(s.own));
      break;
    case ValueType::kRaw: *out = Value::Raw(s.str()); break;
  }
  return true;
}

bool Expr::EvalBool(const Record& r, bool* out, EventError* err) const {
  Slot s;
  Fault f;
  if (!program_->Eval(program_->root, r, &s, &f)) {
    program_->ToError(f, err);
    return false;
  }
  *out = Truthy(s);
  return true;
}

bool Expr::EvalNumber(const Record& r, double* out, EventError* err) const {
  Slot s;
  Fault f;
  if (!program_->Eval(program_->root, r, &s, &f)) {
    program_->ToError(f, err);
    return false;
  }
  if (s.type != ValueType::kNumber) {
    err->stage = "transform";
    err->code = "type_error";
    err->message = fmt::format("expression '{}' yields {}, expected a number", text_,
                               ValueTypeName(s.type));
    return false;
  }
  *out = s.num;
  return true;
}

}  // namespace evs::transform
