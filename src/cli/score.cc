#include "cli/score.h"

#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <istream>
#include <memory>
#include <ostream>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <optional>
#include <sstream>
#include <streambuf>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "common/status_macros.h"

namespace evs::cli {
namespace {

bool EndsWithNoCase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  s.remove_prefix(s.size() - suffix.size());
  for (size_t i = 0; i < s.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != suffix[i]) return false;
  return true;
}

absl::Status Prefixed(const absl::Status& s, std::string_view prefix) {
  return absl::Status(s.code(), absl::StrCat(std::string(prefix), ": ", std::string(s.message())));
}

// Largest model text we read (the engine's own default limit).
size_t MaxModelBytes() { return pmml::LoadOptions().max_bytes; }

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

absl::StatusOr<std::string> ReadZipEntry(const std::string& path, std::string* entry_out) {
  int code = 0;
  std::unique_ptr<zip_t, ZipCloser> za(zip_open(path.c_str(), ZIP_RDONLY, &code));
  if (!za) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, code);
    std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a readable zip archive: ", msg));
  }
  zip_int64_t n = zip_get_num_entries(za.get(), 0);
  std::vector<std::pair<zip_uint64_t, std::string>> found;
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za.get(), i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME)) continue;
    std::string_view name = st.name;
    if (name.empty() || name.back() == '/') continue;                  // directory
    if (name.rfind("__MACOSX/", 0) == 0) continue;                      // resource forks
    std::string_view base = name.substr(name.rfind('/') == std::string_view::npos ? 0 : name.rfind('/') + 1);
    if (base.rfind("._", 0) == 0) continue;
    if (EndsWithNoCase(name, ".xml") || EndsWithNoCase(name, ".pmml"))
      found.emplace_back(static_cast<zip_uint64_t>(i), std::string(name));
  }
  if (found.size() != 1) {
    std::string names;
    for (const auto& f : found) absl::StrAppend(&names, names.empty() ? " (" : ", ", f.second);
    if (!names.empty()) names += ")";
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": a zipped model must hold exactly one .xml or .pmml file; found ", found.size(), names));
  }
  std::unique_ptr<zip_file_t, ZipFileCloser> f(zip_fopen_index(za.get(), found[0].first, 0));
  if (!f)
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open ", found[0].second, ": ",
                                                   zip_strerror(za.get())));
  // Read in chunks with a cap, whatever the header claims (zip bombs).
  std::string text;
  const size_t cap = MaxModelBytes();
  char buf[1 << 16];
  for (;;) {
    zip_int64_t got = zip_fread(f.get(), buf, sizeof buf);
    if (got < 0)
      return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read ", found[0].second, ": ",
                                                     zip_file_strerror(f.get())));
    if (got == 0) break;
    if (text.size() + static_cast<size_t>(got) > cap)
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", found[0].second,
                                                     " is larger than the limit of ", cap, " bytes"));
    text.append(buf, static_cast<size_t>(got));
  }
  if (entry_out) *entry_out = found[0].second;
  return text;
}

}  // namespace

// ---------------------------------------------------------------------------
// CSV

bool CsvReader::Next(std::vector<std::string>* fields) {
  fields->clear();
  if (!status_.ok()) return false;
  std::streambuf* sb = in_.rdbuf();
  if (sb == nullptr) return false;
  using Traits = std::char_traits<char>;
  if (first_) {
    first_ = false;
    // UTF-8 byte-order mark.
    if (sb->sgetc() == 0xEF) {
      sb->sbumpc();
      if (sb->sgetc() == 0xBB) sb->sbumpc();
      if (sb->sgetc() == 0xBF) sb->sbumpc();
    }
  }
  int c = sb->sgetc();
  if (c == Traits::eof()) return false;
  record_line_ = next_line_;
  fields->emplace_back();
  std::string* field = &fields->back();
  bool quoted = false;       // inside quotes
  bool after_quote = false;  // a quoted field just closed
  bool field_start = true;
  for (;;) {
    c = sb->sbumpc();
    if (c == Traits::eof()) {
      if (quoted) {
        status_ = absl::InvalidArgumentError(
            absl::StrCat("line ", record_line_, ": a quoted field is not closed before the end of the input"));
        return false;
      }
      return true;
    }
    char ch = static_cast<char>(c);
    if (quoted) {
      if (ch == '"') {
        if (sb->sgetc() == '"') {
          sb->sbumpc();
          field->push_back('"');
        } else {
          quoted = false;
          after_quote = true;
        }
      } else {
        if (ch == '\n') ++next_line_;
        field->push_back(ch);
      }
      continue;
    }
    if (ch == ',') {
      fields->emplace_back();
      field = &fields->back();
      after_quote = false;
      field_start = true;
      continue;
    }
    if (ch == '\n' || ch == '\r') {
      if (ch == '\r' && sb->sgetc() == '\n') sb->sbumpc();
      ++next_line_;
      return true;
    }
    if (after_quote) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat("line ", next_line_, ": unexpected character '", std::string(1, ch),
                       "' after a closing quote (a quote inside a quoted field is written \"\")"));
      return false;
    }
    if (ch == '"' && field_start) {
      quoted = true;
      field_start = false;
      continue;
    }
    field_start = false;
    field->push_back(ch);  // a quote inside an unquoted field is taken as is
  }
}

bool IsMissingCell(std::string_view cell) { return cell.empty() || cell == "N/A" || cell == "NA"; }

void AppendCsvField(std::string_view field, std::string* out) {
  bool quote = !field.empty() && (field.front() == ' ' || field.back() == ' ');
  for (char ch : field)
    if (ch == ',' || ch == '"' || ch == '\n' || ch == '\r') {
      quote = true;
      break;
    }
  if (!quote) {
    out->append(field.data(), field.size());
    return;
  }
  out->push_back('"');
  for (char ch : field) {
    if (ch == '"') out->push_back('"');
    out->push_back(ch);
  }
  out->push_back('"');
}

// ---------------------------------------------------------------------------
// Models

absl::StatusOr<std::string> ReadModelText(const std::string& path, std::string* entry) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  if (in.gcount() == 4 && magic[0] == 'P' && magic[1] == 'K' &&
      ((magic[2] == 3 && magic[3] == 4) || (magic[2] == 5 && magic[3] == 6))) {
    in.close();
    return ReadZipEntry(path, entry);
  }
  in.clear();
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < 0) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot determine the file size"));
  if (static_cast<size_t>(size) > MaxModelBytes())
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": larger than the limit of ", MaxModelBytes(), " bytes"));
  in.seekg(0);
  std::string text(static_cast<size_t>(size), '\0');
  in.read(text.data(), size);
  if (in.gcount() != size) return absl::DataLossError(absl::StrCat(path, ": short read"));
  if (entry) entry->clear();
  return text;
}

absl::StatusOr<std::unique_ptr<pmml::CompiledModel>> LoadModelFile(
    const std::string& path, const std::function<absl::Status(std::string*)>& rewrite) {
  std::string entry;
  ASSIGN_OR_RETURN(std::string text, ReadModelText(path, &entry));
  const std::string where = entry.empty() ? path : absl::StrCat(path, " (", entry, ")");
  if (rewrite) {
    absl::Status s = rewrite(&text);
    if (!s.ok()) return Prefixed(s, where);
  }
  auto model = pmml::CompiledModel::Load(text);
  if (!model.ok()) return Prefixed(model.status(), where);
  return model;
}

std::string OutputCell(const pmml::Value& v) {
  if (v.missing()) return "N/A";
  return pmml::FormatValue(v);
}

// ---------------------------------------------------------------------------
// Scoring

namespace {

// The row loop shared by PMML and Spark scoring: reads records, lets `eval`
// fill the output line of each (or say why it cannot), writes the line or
// N/A cells, reports progress and failures on `err`.
enum class RowOutcome : uint8_t { kOk, kFailed, kFiltered };

template <typename Eval>
int ScoreRows(CsvReader& reader, size_t header_size, int num_outputs, std::ostream& out, std::ostream& err,
              const ScoreOptions& opts, ScoreSummary& sum, Eval&& eval) {
  std::vector<std::string> fields;
  std::string line, why;
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  auto report = [&]() {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    char secs_text[32];
    std::snprintf(secs_text, sizeof secs_text, "%.1f", secs);
    err << "evserve: scored " << sum.rows << " rows in " << secs_text << " s";
    if (secs > 0) err << " (" << static_cast<int64_t>(sum.rows / secs) << " rows/s)";
    if (sum.failed_rows) err << ", " << sum.failed_rows << " could not be evaluated";
    err << "\n" << std::flush;
  };
  bool reported = false;
  int64_t reported_rows = 0, filtered_rows = 0;
  while (reader.Next(&fields)) {
    // A blank line is no record (unless the input has a single column, where
    // it is a row whose one cell is missing).
    if (header_size > 1 && fields.size() == 1 && fields[0].empty()) continue;
    ++sum.rows;
    line.clear();
    why.clear();
    RowOutcome outcome;
    if (fields.size() != header_size) {
      why = absl::StrCat("has ", fields.size(), " field(s) but the header has ", header_size);
      outcome = RowOutcome::kFailed;
    } else {
      outcome = eval(fields, &line, &why);
    }
    if (outcome == RowOutcome::kFailed) {
      ++sum.failed_rows;
      err << "evserve: row " << sum.rows << ": " << why
          << (opts.strict ? " (--strict: stopping)" : " (written as N/A)") << "\n";
      if (opts.strict) {
        out.flush();
        return kExitFailure;
      }
    } else if (outcome == RowOutcome::kFiltered) {
      ++filtered_rows;
      err << "evserve: row " << sum.rows << ": filtered out: " << why << " (written as N/A)\n";
    }
    if (outcome != RowOutcome::kOk) {
      line.clear();
      for (int i = 0; i < num_outputs; ++i) line.append(i ? ",N/A" : "N/A");
    }
    line.push_back('\n');
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
    if (opts.progress_rows > 0 && sum.rows % opts.progress_rows == 0) {
      report();
      reported = true;
      reported_rows = sum.rows;
      last_report = std::chrono::steady_clock::now();
    } else if (opts.progress_tty && opts.progress_seconds > 0 && (sum.rows & 255) == 0) {
      auto now = std::chrono::steady_clock::now();
      if (std::chrono::duration<double>(now - last_report).count() >= opts.progress_seconds) {
        report();
        reported = true;
        reported_rows = sum.rows;
        last_report = now;
      }
    }
  }
  out.flush();
  if (!reader.status().ok()) {
    err << "evserve: " << opts.input << ": " << reader.status().message() << "\n";
    return kExitFailure;
  }
  if (!out) {
    err << "evserve: " << opts.output << ": write failed\n";
    return kExitFailure;
  }
  if (reported && reported_rows != sum.rows) report();
  if (sum.failed_rows > 0)
    err << "evserve: " << sum.failed_rows << " of " << sum.rows
        << " row(s) could not be evaluated and were written as N/A\n";
  if (filtered_rows > 0)
    err << "evserve: " << filtered_rows << " of " << sum.rows
        << " row(s) were filtered out by the pipeline and written as N/A\n";
  return kExitOk;
}

bool ReadHeader(CsvReader& reader, const ScoreOptions& opts, std::ostream& err, std::vector<std::string>* header) {
  if (reader.Next(header)) return true;
  err << "evserve: " << opts.input << ": "
      << (reader.status().ok() ? std::string("no header row (the input is empty)")
                               : std::string(reader.status().message()))
      << "\n";
  return false;
}

void WriteHeader(const std::vector<std::string>& names, std::ostream& out) {
  std::string line;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) line.push_back(',');
    AppendCsvField(names[i], &line);
  }
  line.push_back('\n');
  out.write(line.data(), static_cast<std::streamsize>(line.size()));
}

}  // namespace

int ScoreStream(const pmml::CompiledModel& model, std::istream& in, std::ostream& out,
                std::ostream& err, const ScoreOptions& opts, ScoreSummary* summary) {
  ScoreSummary local;
  ScoreSummary& sum = summary ? *summary : local;
  sum = ScoreSummary();
  CsvReader reader(in);
  std::vector<std::string> header;
  if (!ReadHeader(reader, opts, err, &header)) return kExitUsage;
  // A column whose name appears again later is bound once, at its first place.
  std::vector<int> bind = model.Bind(header);
  for (size_t i = 0; i < header.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (header[j] == header[i]) bind[i] = -1;
  for (const pmml::FieldSpec& f : model.inputs())
    if (std::find(header.begin(), header.end(), f.name) == header.end())
      err << "evserve: note: the model input '" << f.name
          << "' is not a column of the input; it is missing in every row\n";

  const int num_outputs = static_cast<int>(model.outputs().size());
  std::vector<std::string> names;
  for (const auto& o : model.outputs()) names.push_back(o.name);
  WriteHeader(names, out);

  std::unique_ptr<pmml::EvalContext> ctx = model.NewContext();
  std::string cell;
  return ScoreRows(reader, header.size(), num_outputs, out, err, opts, sum,
                   [&](const std::vector<std::string>& fields, std::string* line, std::string* why) {
                     ctx->BeginRecord();
                     for (size_t c = 0; c < fields.size(); ++c) {
                       const int k = bind[c];
                       if (k < 0) continue;
                       if (IsMissingCell(fields[c]))
                         model.SetMissing(*ctx, k);
                       else
                         model.SetInput(*ctx, k, fields[c]);
                     }
                     absl::Status st = model.Evaluate(*ctx);
                     if (!st.ok()) {
                       *why = std::string(st.message());
                       return RowOutcome::kFailed;
                     }
                     for (int i = 0; i < num_outputs; ++i) {
                       if (i) line->push_back(',');
                       const pmml::Value& v = model.Output(*ctx, i);
                       if (v.missing()) {
                         line->append("N/A");
                       } else {
                         cell.clear();
                         pmml::FormatValue(v, &cell);
                         AppendCsvField(cell, line);
                       }
                     }
                     return RowOutcome::kOk;
                   });
}

// ---------------------------------------------------------------------------
// Spark pipelines

namespace {

// Numbers as the PMML output writes them: integral values without a
// fraction, others in the shortest form that parses back to the same double.
void AppendNumber(double v, std::string* out) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "Infinity" : "-Infinity");
    return;
  }
  char buf[64];
  std::to_chars_result r;
  if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0)
    r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
  else
    r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

// Spark's own text of a double (Java's Double.toString: "1.0", "1.0E-5").
void AppendJavaDouble(double v, std::string* out) { out->append(spark::JavaDoubleToString(v)); }

// Spark's text form of a vector: [1.0,2.0] or (size,[indices],[values]).
void AppendVector(const spark::Vector& v, std::string* out) {
  auto list = [&](auto&& items, auto&& append) {
    out->push_back('[');
    bool first = true;
    for (const auto& x : items) {
      if (!first) out->push_back(',');
      first = false;
      append(x);
    }
    out->push_back(']');
  };
  auto num = [&](double x) { AppendJavaDouble(x, out); };
  if (v.dense) {
    list(v.values, num);
    return;
  }
  absl::StrAppend(out, "(", v.size, ",");
  list(v.indices, [&](int32_t i) { absl::StrAppend(out, i); });
  out->push_back(',');
  list(v.values, num);
  out->push_back(')');
}

// A cell as Spark shows it (--spark-columns): doubles in Java's form,
// integers plain, booleans true/false, vectors and arrays in Spark's text.
void AppendCell(const spark::Cell& c, spark::DataType type, std::string* out) {
  switch (c.kind) {
    case spark::Cell::Kind::kNull: out->append("N/A"); return;
    case spark::Cell::Kind::kNumber:
      if (type == spark::DataType::kBoolean) out->append(c.num != 0 ? "true" : "false");
      else if (type == spark::DataType::kInteger || type == spark::DataType::kLong) AppendNumber(c.num, out);
      else AppendJavaDouble(c.num, out);
      return;
    case spark::Cell::Kind::kString: out->append(c.str); return;
    case spark::Cell::Kind::kVector: AppendVector(c.vec, out); return;
    case spark::Cell::Kind::kStrings:
      out->push_back('[');
      for (size_t i = 0; i < c.strs.size(); ++i) absl::StrAppend(out, i ? ", " : "", c.strs[i]);
      out->push_back(']');
      return;
    case spark::Cell::Kind::kNumbers:
      out->push_back('[');
      for (size_t i = 0; i < c.nums.size(); ++i) {
        if (i) out->append(", ");
        AppendJavaDouble(c.nums[i], out);
      }
      out->push_back(']');
      return;
  }
}

std::string ReadFileText(const std::string& path, absl::Status* st) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *st = absl::NotFoundError(absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
    return "";
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

bool IsSparkModel(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return std::filesystem::is_directory(std::filesystem::path(path) / "metadata", ec);
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  if (in.gcount() != 4 || magic[0] != 'P' || magic[1] != 'K') return false;
  in.close();
  int code = 0;
  std::unique_ptr<zip_t, ZipCloser> za(zip_open(path.c_str(), ZIP_RDONLY, &code));
  if (!za) return false;
  const zip_int64_t n = zip_get_num_entries(za.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* name = zip_get_name(za.get(), static_cast<zip_uint64_t>(i), 0);
    if (name == nullptr) continue;
    // The pipeline's own metadata (metadata/part-00000, Spark 4:
    // metadata/part-00000-<uuid>-c000.txt), at the root or in one top-level
    // folder; not a stage's (stages/<i>_<uid>/metadata).
    std::string_view s = name;
    size_t m = s.find("metadata/part-00000");
    if (m == std::string_view::npos || s.find("stages/") != std::string_view::npos) continue;
    if (m == 0 || (s[m - 1] == '/' && s.substr(0, m - 1).find('/') == std::string_view::npos)) return true;
  }
  return false;
}

bool ParseSparkVector(std::string_view text, spark::Vector* out) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  };
  // "[a,b,...]" -> doubles.
  auto parse_list = [&](std::string_view s, std::vector<double>* vals) {
    s = trim(s);
    if (s.size() < 2 || s.front() != '[' || s.back() != ']') return false;
    s = trim(s.substr(1, s.size() - 2));
    vals->clear();
    if (s.empty()) return true;
    for (;;) {
      size_t comma = s.find(',');
      std::string item(trim(s.substr(0, comma)));
      char* end = nullptr;
      double d = std::strtod(item.c_str(), &end);
      if (item.empty() || end != item.c_str() + item.size()) return false;
      vals->push_back(d);
      if (comma == std::string_view::npos) return true;
      s = s.substr(comma + 1);
    }
  };
  text = trim(text);
  std::vector<double> vals;
  if (!text.empty() && text.front() == '[') {
    if (!parse_list(text, &vals)) return false;
    out->SetDense(static_cast<int32_t>(vals.size()));
    out->values = vals;
    return true;
  }
  if (text.size() < 2 || text.front() != '(' || text.back() != ')') return false;
  std::string_view body = text.substr(1, text.size() - 2);
  size_t c1 = body.find(',');
  size_t b1 = body.find(']');
  if (c1 == std::string_view::npos || b1 == std::string_view::npos || b1 + 1 >= body.size()) return false;
  std::string size_text(trim(body.substr(0, c1)));
  char* end = nullptr;
  long n = std::strtol(size_text.c_str(), &end, 10);
  if (size_text.empty() || end != size_text.c_str() + size_text.size() || n < 0) return false;
  std::vector<double> idx;
  if (!parse_list(body.substr(c1 + 1, b1 - c1), &idx)) return false;
  std::string_view rest = trim(body.substr(b1 + 1));
  if (rest.empty() || rest.front() != ',') return false;
  if (!parse_list(rest.substr(1), &vals) || vals.size() != idx.size()) return false;
  out->SetSparse(static_cast<int32_t>(n));
  for (size_t k = 0; k < idx.size(); ++k) {
    if (idx[k] < 0 || idx[k] >= n || (k > 0 && idx[k] <= idx[k - 1])) return false;
    out->indices.push_back(static_cast<int32_t>(idx[k]));
    out->values.push_back(vals[k]);
  }
  return true;
}

absl::StatusOr<SparkResultColumns> SparkResultColumns::Make(const spark::Pipeline& p, bool spark_columns) {
  SparkResultColumns r;
  const spark::Schema& schema = p.schema();
  if (spark_columns) {
    for (const std::string& name : schema.VisibleColumns()) {
      const int slot = schema.Find(name);
      if (slot < 0 || schema.column(slot).is_input) continue;
      r.names_.push_back(name);
      r.columns_.push_back({Kind::kCell, slot, -1, schema.column(slot).type});
    }
    if (r.names_.empty()) return absl::InvalidArgumentError("the pipeline adds no columns");
    return r;
  }
  const spark::Conventions& c = p.conventions();
  if (!c.has_predictor || c.prediction_slot < 0)
    return absl::InvalidArgumentError(
        "the pipeline has no predictor (model) whose output the conventions could present; use --spark-columns");
  using K = spark::PredictorInfo::Kind;
  if (c.kind == K::kClassification && c.probability_from_prediction && c.labels.size() == 2) {
    r.labels_ = c.labels;
    r.names_.push_back(c.label_name.empty() ? "prediction" : c.label_name);
    r.columns_.push_back({Kind::kBinomialLabel, c.prediction_slot, -1, spark::DataType::kString});
    r.names_.push_back(absl::StrCat("probability(", r.labels_[0], ")"));
    r.columns_.push_back({Kind::kBinomialP0, c.prediction_slot, 0, spark::DataType::kDouble});
    r.names_.push_back(absl::StrCat("probability(", r.labels_[1], ")"));
    r.columns_.push_back({Kind::kBinomialP1, c.prediction_slot, 1, spark::DataType::kDouble});
  } else if (c.kind == K::kClassification) {
    r.labels_ = c.labels;
    r.names_.push_back(c.label_name.empty() ? "prediction" : c.label_name);
    r.columns_.push_back({Kind::kLabel, c.prediction_slot, -1, spark::DataType::kString});
    if (c.probability_slot >= 0) {
      int n = static_cast<int>(c.labels.size());
      if (n == 0) {
        const spark::ColumnInfo& info = schema.column(c.probability_slot);
        n = info.vector_size > 0 ? info.vector_size : 0;
      }
      for (int i = 0; i < n; ++i) {
        std::string label = i < static_cast<int>(c.labels.size()) ? c.labels[i] : std::to_string(i);
        r.names_.push_back(absl::StrCat("probability(", label, ")"));
        r.columns_.push_back({Kind::kProbability, c.probability_slot, i, spark::DataType::kDouble});
      }
    }
  } else if (c.kind == K::kClustering) {
    r.names_.push_back(c.label_name.empty() ? "cluster" : c.label_name);
    r.columns_.push_back({Kind::kInteger, c.prediction_slot, -1, spark::DataType::kInteger});
  } else {
    r.names_.push_back(c.label_name.empty() ? "prediction" : c.label_name);
    r.columns_.push_back({Kind::kNumber, c.prediction_slot, -1, spark::DataType::kDouble});
  }
  return r;
}

void SparkResultColumns::Format(const spark::Pipeline& p, const spark::Row& row,
                                std::vector<std::string>* out) const {
  out->resize(columns_.size());
  for (size_t i = 0; i < columns_.size(); ++i) {
    const Column& col = columns_[i];
    std::string& s = (*out)[i];
    s.clear();
    const spark::Cell& cell = p.Get(row, col.slot);
    switch (col.kind) {
      case Kind::kLabel: {
        if (cell.kind != spark::Cell::Kind::kNumber) {
          AppendCell(cell, col.type, &s);
          break;
        }
        const double k = cell.num;
        if (k >= 0 && k < static_cast<double>(labels_.size()) && k == std::trunc(k))
          s = labels_[static_cast<size_t>(k)];
        else
          AppendNumber(k, &s);
        break;
      }
      case Kind::kProbability:
        if (cell.kind == spark::Cell::Kind::kVector && col.index < cell.vec.size)
          AppendNumber(cell.vec.At(col.index), &s);
        else
          s = "N/A";
        break;
      case Kind::kNumber:
      case Kind::kInteger:
        if (cell.kind == spark::Cell::Kind::kNumber) AppendNumber(cell.num, &s);
        else AppendCell(cell, col.type, &s);
        break;
      case Kind::kCell: AppendCell(cell, col.type, &s); break;
      case Kind::kBinomialLabel:
      case Kind::kBinomialP0:
      case Kind::kBinomialP1:
        if (cell.kind != spark::Cell::Kind::kNumber) {
          s = "N/A";
        } else if (col.kind == Kind::kBinomialLabel) {
          s = labels_[cell.num > 0.5 ? 1 : 0];
        } else {
          AppendNumber(col.kind == Kind::kBinomialP1 ? cell.num : 1.0 - cell.num, &s);
        }
        break;
    }
  }
}

spark::LoadOptions SparkLoadOptions(const std::string& schema_json, bool spark_columns) {
  spark::LoadOptions o;
  o.schema_json = schema_json;
  o.conventions_outputs = !spark_columns;
  return o;
}

int ScoreSparkStream(const spark::Pipeline& p, const SparkResultColumns& columns, std::istream& in,
                     std::ostream& out, std::ostream& err, const ScoreOptions& opts, ScoreSummary* summary) {
  ScoreSummary local;
  ScoreSummary& sum = summary ? *summary : local;
  sum = ScoreSummary();
  CsvReader reader(in);
  std::vector<std::string> header;
  if (!ReadHeader(reader, opts, err, &header)) return kExitUsage;
  // Pipeline input k <- CSV column bind[k] (first of a duplicate name), -1: null.
  const auto& inputs = p.inputs();
  std::vector<int> bind(inputs.size(), -1);
  for (size_t k = 0; k < inputs.size(); ++k) {
    auto it = std::find(header.begin(), header.end(), inputs[k].name);
    if (it != header.end()) {
      bind[k] = static_cast<int>(it - header.begin());
    } else {
      err << "evserve: note: the pipeline input '" << inputs[k].name
          << "' is not a column of the input; it is null in every row\n";
    }
  }
  WriteHeader(columns.names(), out);
  std::unique_ptr<spark::Row> row = p.NewRow();
  std::vector<std::string> cells;
  spark::Vector vec;
  return ScoreRows(
      reader, header.size(), static_cast<int>(columns.names().size()), out, err, opts, sum,
      [&](const std::vector<std::string>& fields, std::string* line, std::string* why) {
        p.BeginRow(*row);
        for (size_t k = 0; k < inputs.size(); ++k) {
          if (bind[k] < 0) continue;
          const std::string& f = fields[bind[k]];
          const int input = static_cast<int>(k);
          if (IsMissingCell(f)) {
            p.SetNull(*row, input);
          } else if (inputs[k].type == spark::DataType::kVector) {
            if (!ParseSparkVector(f, &vec)) {
              *why = absl::StrCat("column '", inputs[k].name, "': '", f,
                                  "' is not a vector ([1.0,2.0] or (size,[indices],[values]))");
              return RowOutcome::kFailed;
            }
            p.SetInput(*row, input, vec);
          } else if (absl::Status st = p.SetInput(*row, input, f); !st.ok()) {
            *why = std::string(st.message());
            return RowOutcome::kFailed;
          }
        }
        if (absl::Status st = p.Run(*row); !st.ok()) {
          *why = std::string(st.message());
          return RowOutcome::kFailed;
        }
        if (row->filtered) {
          *why = row->filter_reason.empty() ? std::string("a stage dropped the row") : row->filter_reason;
          return RowOutcome::kFiltered;
        }
        columns.Format(p, *row, &cells);
        for (size_t i = 0; i < cells.size(); ++i) {
          if (i) line->push_back(',');
          if (cells[i] == "N/A") line->append("N/A");
          else AppendCsvField(cells[i], line);
        }
        return RowOutcome::kOk;
      });
}

int Score(const ScoreOptions& opts_in, std::ostream& err) {
  ScoreOptions opts = opts_in;
  const bool spark = IsSparkModel(opts.model);
  if (!spark && (!opts.schema.empty() || opts.spark_columns)) {
    err << "evserve: --schema and --spark-columns are for Spark pipelines; " << opts.model
        << " is not one (no metadata/part-00000)\n";
    return kExitUsage;
  }
  std::unique_ptr<pmml::CompiledModel> pmml_model;
  std::unique_ptr<spark::Pipeline> pipeline;
  std::optional<SparkResultColumns> columns;
  if (spark) {
    std::string schema_json;
    if (!opts.schema.empty()) {
      absl::Status st;
      schema_json = ReadFileText(opts.schema, &st);
      if (!st.ok()) {
        err << "evserve: --schema: " << st.message() << "\n";
        return kExitUsage;
      }
    }
    auto p = spark::Pipeline::Load(opts.model, SparkLoadOptions(schema_json, opts.spark_columns));
    if (!p.ok()) {
      err << "evserve: invalid model: " << opts.model << ": " << p.status().message() << "\n";
      return kExitUsage;
    }
    pipeline = std::move(*p);
    auto c = SparkResultColumns::Make(*pipeline, opts.spark_columns);
    if (!c.ok()) {
      err << "evserve: " << opts.model << ": " << c.status().message() << "\n";
      return kExitUsage;
    }
    columns = std::move(*c);
  } else {
    auto model = LoadModelFile(opts.model);
    if (!model.ok()) {
      err << "evserve: invalid model: " << model.status().message() << "\n";
      return kExitUsage;
    }
    pmml_model = std::move(*model);
  }
  std::ifstream in_file;
  std::istream* in = &std::cin;
  if (opts.input != "-") {
    in_file.open(opts.input, std::ios::binary);
    if (!in_file) {
      err << "evserve: " << opts.input << ": cannot read: " << std::strerror(errno) << "\n";
      return kExitUsage;
    }
    in = &in_file;
  }
  std::ofstream out_file;
  std::ostream* out = &std::cout;
  if (opts.output != "-") {
    out_file.open(opts.output, std::ios::binary | std::ios::trunc);
    if (!out_file) {
      err << "evserve: " << opts.output << ": cannot write: " << std::strerror(errno) << "\n";
      return kExitUsage;
    }
    out = &out_file;
  }
  if (pipeline) return ScoreSparkStream(*pipeline, *columns, *in, *out, err, opts);
  return ScoreStream(*pmml_model, *in, *out, err, opts);
}

const char kScoreHelp[] = R"(
Scores every row of a CSV file with a PMML model or a saved Spark
PipelineModel and writes one output row per input row, in the same order.

Input: CSV (RFC 4180) with a header row; columns are matched to the model's
input fields (a Spark pipeline's input columns) by name; other columns are
ignored. Cells that are empty, N/A or NA are missing values (null in Spark).
Blank lines are skipped (when there are several columns).

PMML output: the model's target field(s), then every OutputField whose
isFinalResult is not false, in document order.

Spark pipelines: --model is the directory PipelineModel.save() wrote (it holds
metadata/part-00000) or a zip of it. --schema FILE gives the input columns'
Spark StructType JSON (types and ML attributes); without it the types come
from what the stages need (strings for indexers and tokenizers, doubles for
numeric stages). Vector input cells use Spark's text form: [1.0,2.0] (dense)
or (4,[0,2],[1.0,3.0]) (sparse).
By default the output columns follow the conventions of the Spark corpus
(the pipeline is pruned to what they need):
  classifier   <label column> = the predicted label string (through the
               pipeline's label indexer), then probability(<label>) per class
  regressor    <label column> = the prediction
  clustering   cluster = the cluster index
With --spark-columns the output is instead every column the pipeline's stages
add (Spark's own names: prediction, probability, rawPrediction, intermediate
features, ...), in the order Spark adds them, with no pruning, and values as
Spark shows them: doubles in Java's form (1.0, 1.0E-5), vectors one cell each
in Spark's text form ([0.2,0.8] dense, (size,[indices],[values]) sparse),
arrays as [a, b].

A missing result is written as N/A. Numbers (PMML outputs, the conventions'
columns) are written so that they parse back to the same double (integers
without a fraction).

A row that cannot be evaluated (an invalid value under returnInvalid, an
unseen category under handleInvalid=error, a wrong number of fields, ...) is
written as N/A cells, with a message on stderr that names its row number
(1 = the first data row). With --strict the first such row stops the run.
A row a Spark stage drops (handleInvalid=skip, a SQL WHERE) is written as N/A
cells with a message; it is not an error.

--model may also be a .pmml/.xml file or a .zip holding exactly one .xml/.pmml
file. Use - for --input or --output to read stdin or write stdout. On long
inputs a progress line goes to stderr every 100,000 rows (and every 2 s on a
terminal).

Exit codes: 0 done (rows that could not be evaluated are reported, not fatal);
1 a row failed under --strict, malformed CSV, or a write error;
2 bad arguments, an invalid model file (the message names the file and the
element or stage), or an unreadable input.
)";

}  // namespace evs::cli
