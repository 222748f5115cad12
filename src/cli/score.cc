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
#include <streambuf>

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

int ScoreStream(const pmml::CompiledModel& model, std::istream& in, std::ostream& out,
                std::ostream& err, const ScoreOptions& opts, ScoreSummary* summary) {
  ScoreSummary local;
  ScoreSummary& sum = summary ? *summary : local;
  sum = ScoreSummary();
  CsvReader reader(in);
  std::vector<std::string> header;
  if (!reader.Next(&header)) {
    err << "evserve: " << opts.input << ": "
        << (reader.status().ok() ? std::string("no header row (the input is empty)")
                                 : std::string(reader.status().message()))
        << "\n";
    return kExitUsage;
  }
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
  std::string line, cell;
  for (int i = 0; i < num_outputs; ++i) {
    if (i) line.push_back(',');
    AppendCsvField(model.outputs()[i].name, &line);
  }
  line.push_back('\n');
  out.write(line.data(), static_cast<std::streamsize>(line.size()));

  std::unique_ptr<pmml::EvalContext> ctx = model.NewContext();
  std::vector<std::string> fields;
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
  int64_t reported_rows = 0;
  while (reader.Next(&fields)) {
    // A blank line is no record (unless the input has a single column, where
    // it is a row whose one cell is missing).
    if (header.size() > 1 && fields.size() == 1 && fields[0].empty()) continue;
    ++sum.rows;
    absl::Status st;
    if (fields.size() != header.size()) {
      st = absl::InvalidArgumentError(absl::StrCat("has ", fields.size(), " field(s) but the header has ",
                                                   header.size()));
    } else {
      ctx->BeginRecord();
      for (size_t c = 0; c < fields.size(); ++c) {
        const int k = bind[c];
        if (k < 0) continue;
        if (IsMissingCell(fields[c]))
          model.SetMissing(*ctx, k);
        else
          model.SetInput(*ctx, k, fields[c]);
      }
      st = model.Evaluate(*ctx);
    }
    line.clear();
    if (st.ok()) {
      for (int i = 0; i < num_outputs; ++i) {
        if (i) line.push_back(',');
        const pmml::Value& v = model.Output(*ctx, i);
        if (v.missing()) {
          line.append("N/A");
        } else {
          cell.clear();
          pmml::FormatValue(v, &cell);
          AppendCsvField(cell, &line);
        }
      }
    } else {
      ++sum.failed_rows;
      err << "evserve: row " << sum.rows << ": " << st.message()
          << (opts.strict ? " (--strict: stopping)" : " (written as N/A)") << "\n";
      if (opts.strict) {
        out.flush();
        return kExitFailure;
      }
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
  return kExitOk;
}

int Score(const ScoreOptions& opts_in, std::ostream& err) {
  ScoreOptions opts = opts_in;
  auto model = LoadModelFile(opts.model);
  if (!model.ok()) {
    err << "evserve: invalid model: " << model.status().message() << "\n";
    return kExitUsage;
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
  return ScoreStream(**model, *in, *out, err, opts);
}

const char kScoreHelp[] = R"(
Scores every row of a CSV file with a PMML model and writes one output row per
input row, in the same order.

Input: CSV (RFC 4180) with a header row; columns are matched to the model's
input fields by name (other columns are ignored). Cells that are empty, N/A or
NA are missing values. Blank lines are skipped (when there are several columns).

Output: CSV; the columns are the model's target field(s), then every
OutputField whose isFinalResult is not false, in document order. A missing
result is written as N/A. Numbers are written so that they parse back to the
same double (integers without a fraction).

A row that cannot be evaluated (an invalid value under returnInvalid, a wrong
number of fields, ...) is written as N/A cells, with a message on stderr that
names its row number (1 = the first data row). With --strict the first such
row stops the run.

--model may be a .pmml/.xml file or a .zip holding exactly one .xml/.pmml file.
Use - for --input or --output to read stdin or write stdout. On long inputs a
progress line goes to stderr every 100,000 rows (and every 2 s on a terminal).

Exit codes: 0 done (rows that could not be evaluated are reported, not fatal);
1 a row failed under --strict, malformed CSV, or a write error;
2 bad arguments, an invalid model file (the message names the file and the
element), or an unreadable input.
)";

}  // namespace evs::cli
