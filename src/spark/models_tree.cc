// Tree models of Spark MLlib: DecisionTree, RandomForest and GBT classifiers
// and regressors.
//
// A saved tree is a table of nodes (id, prediction, impurity, impurityStats,
// leftChild, rightChild, split); ensembles add a treeID column (data/) and a
// per-tree metadata table with the tree weights (treesMetadata/). Load
// compiles every tree into one flat node array (children by index, leaves
// carrying their prediction and class statistics), so evaluation is a loop
// over an array with no allocation. The numbers follow Spark's transform:
// leaf counts as rawPrediction, per-tree normalized votes for random forests,
// the weighted tree sum as GBT margin.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "spark/stage.h"

namespace evs::spark {
namespace {

// ---------------------------------------------------------------------------
// Reading node tables.

absl::StatusOr<double> Number(const parquet::Datum& d) {
  switch (d.kind) {
    case parquet::Datum::Kind::kDouble: return d.d;
    case parquet::Datum::Kind::kInt: return static_cast<double>(d.i);
    case parquet::Datum::Kind::kBool: return d.b ? 1.0 : 0.0;
    default: return absl::InvalidArgumentError("not a number");
  }
}

// One saved node, as NodeData holds it.
struct NodeRecord {
  int32_t id = -1;
  double prediction = 0;
  double impurity = 0;
  std::vector<double> stats;
  int32_t left = -1, right = -1;
  int32_t feature = -1;
  std::vector<double> cats_or_threshold;
  int32_t num_categories = -1;
};

// Field positions of NodeData inside a struct schema node.
struct NodeLayout {
  int id = -1, prediction = -1, impurity = -1, stats = -1, left = -1, right = -1, split = -1;
  int feature = -1, cats = -1, num_cats = -1;  // inside split
};

absl::StatusOr<NodeLayout> LayoutOf(const StageMeta& m, const parquet::SchemaNode& node) {
  NodeLayout l;
  l.id = node.Child("id");
  l.prediction = node.Child("prediction");
  l.impurity = node.Child("impurity");
  l.stats = node.Child("impurityStats");
  l.left = node.Child("leftChild");
  l.right = node.Child("rightChild");
  l.split = node.Child("split");
  if (l.id < 0 || l.prediction < 0 || l.left < 0 || l.right < 0 || l.split < 0) {
    return m.Error("tree node data lacks id/prediction/leftChild/rightChild/split");
  }
  const parquet::SchemaNode& split = node.children[l.split];
  l.feature = split.Child("featureIndex");
  l.cats = split.Child("leftCategoriesOrThreshold");
  l.num_cats = split.Child("numCategories");
  if (l.feature < 0 || l.cats < 0 || l.num_cats < 0) {
    return m.Error("tree node split lacks featureIndex/leftCategoriesOrThreshold/numCategories");
  }
  return l;
}

absl::Status NumberListOf(const parquet::Datum& d, std::vector<double>* out) {
  out->clear();
  if (d.is_null()) return absl::OkStatus();
  if (d.kind != parquet::Datum::Kind::kList) return absl::InvalidArgumentError("not a list");
  for (const auto& it : d.items) {
    ASSIGN_OR_RETURN(double v, Number(it));
    out->push_back(v);
  }
  return absl::OkStatus();
}

absl::StatusOr<NodeRecord> ReadNode(const StageMeta& m, const NodeLayout& l,
                                    const parquet::Datum& row) {
  auto bad = [&]() { return m.Error("malformed tree node"); };
  if (row.kind != parquet::Datum::Kind::kStruct) return bad();
  auto at = [&](int i) -> const parquet::Datum& { return row.items[i]; };
  NodeRecord n;
  auto id = Number(at(l.id));
  auto pred = Number(at(l.prediction));
  auto left = Number(at(l.left));
  auto right = Number(at(l.right));
  if (!id.ok() || !pred.ok() || !left.ok() || !right.ok()) return bad();
  n.id = static_cast<int32_t>(*id);
  n.prediction = *pred;
  n.left = static_cast<int32_t>(*left);
  n.right = static_cast<int32_t>(*right);
  if (l.impurity >= 0) n.impurity = Number(at(l.impurity)).value_or(0.0);
  if (l.stats >= 0 && !NumberListOf(at(l.stats), &n.stats).ok()) return bad();
  const parquet::Datum& split = at(l.split);
  if (split.kind == parquet::Datum::Kind::kStruct) {
    auto f = Number(split.items[l.feature]);
    auto nc = Number(split.items[l.num_cats]);
    if (!f.ok() || !nc.ok()) {
      if (n.left >= 0) return bad();
    } else {
      n.feature = static_cast<int32_t>(*f);
      n.num_categories = static_cast<int32_t>(*nc);
    }
    if (!NumberListOf(split.items[l.cats], &n.cats_or_threshold).ok()) return bad();
  } else if (n.left >= 0) {
    return bad();
  }
  return n;
}

// ---------------------------------------------------------------------------
// Compiled forest.

struct FlatNode {
  int32_t feature = -1;  // -1: leaf
  int32_t left = -1, right = -1;  // absolute node indices
  // Categorical split: offset of the category bitmap (bit c set when category
  // c goes left); -1 for a continuous split.
  int32_t cats = -1;
  int32_t num_categories = 0;
  // Spark keeps the smaller side of a categorical split; when that is the
  // right side, a value outside 0..numCategories-1 goes left.
  bool smaller_is_left = true;
  double value = 0;      // split threshold, or the leaf's prediction
  int32_t leaf = -1;     // leaf: in-order leaf number within its tree
  int32_t stats = -1;    // leaf: offset of its class statistics
  double impurity = 0;   // leaf: impurity (variance for regression trees)
  bool stats_zero = false;  // leaf: class counts sum to 0
};

// Every tree of one model in a single node array: trees are laid out
// depth-first, left child first, each tree's root listed in roots_. Leaves
// keep the prediction, the in-order leaf number (Spark's leafCol) and an
// offset into the class statistics (raw counts and counts / total, computed
// once at load with the same operations Spark does per row). Built once,
// then read-only: Leaf() is safe from many threads.
class Forest {
 public:
  // Leaf statistics width (numClasses for classification trees, 0 else).
  explicit Forest(int width) : width_(width) {}

  absl::Status AddTree(const StageMeta& m, std::vector<NodeRecord> records) {
    std::map<int32_t, size_t> by_id;
    for (size_t i = 0; i < records.size(); ++i) {
      if (!by_id.emplace(records[i].id, i).second) {
        return m.Error(absl::StrCat("tree node id ", records[i].id, " appears twice"));
      }
    }
    if (records.empty()) return m.Error("empty tree");
    // The root is the smallest id (0 as Spark writes them).
    int32_t root_id = by_id.begin()->first;
    roots_.push_back(static_cast<int32_t>(nodes_.size()));
    int32_t leaves = 0;
    int32_t visited = 0;
    // Depth-first, left first: node indices and leaf numbers in Spark's order.
    struct Frame {
      int32_t id;
      int32_t parent;  // flat index of the parent, -1 for the root
      bool is_left;
    };
    std::vector<Frame> stack = {{root_id, -1, true}};
    while (!stack.empty()) {
      Frame f = stack.back();
      stack.pop_back();
      auto it = by_id.find(f.id);
      if (it == by_id.end()) return m.Error(absl::StrCat("tree refers to missing node ", f.id));
      if (++visited > static_cast<int32_t>(records.size())) return m.Error("tree has a cycle");
      const NodeRecord& r = records[it->second];
      int32_t at = static_cast<int32_t>(nodes_.size());
      nodes_.emplace_back();
      if (f.parent >= 0) (f.is_left ? nodes_[f.parent].left : nodes_[f.parent].right) = at;
      FlatNode& n = nodes_.back();
      if (r.left < 0 || r.right < 0) {
        n.value = r.prediction;
        n.leaf = leaves++;
        n.impurity = r.impurity;
        if (width_ > 0) {
          if (static_cast<int>(r.stats.size()) != width_) {
            return m.Error(absl::StrCat("leaf ", r.id, " has ", r.stats.size(),
                                        " class statistics, expected ", width_));
          }
          n.stats = static_cast<int32_t>(counts_.size());
          double total = 0.0;
          for (double c : r.stats) total += c;
          n.stats_zero = total == 0;
          for (double c : r.stats) {
            counts_.push_back(c);
            normalized_.push_back(total == 0 ? 0.0 : c / total);
          }
        }
        continue;
      }
      if (r.feature < 0) return m.Error(absl::StrCat("node ", r.id, " has a bad feature index"));
      n.feature = r.feature;
      max_feature_ = std::max(max_feature_, r.feature);
      if (r.num_categories == -1) {
        if (r.cats_or_threshold.size() != 1) {
          return m.Error(absl::StrCat("node ", r.id, " has no threshold"));
        }
        n.value = r.cats_or_threshold[0];
      } else {
        if (r.num_categories < 0) return m.Error("bad numCategories");
        n.num_categories = r.num_categories;
        n.smaller_is_left =
            static_cast<int64_t>(r.cats_or_threshold.size()) <= r.num_categories / 2;
        n.cats = static_cast<int32_t>(bits_.size());
        bits_.resize(bits_.size() + (r.num_categories + 63) / 64, 0);
        for (double c : r.cats_or_threshold) {
          if (!(c >= 0 && c < r.num_categories) || c != std::floor(c)) {
            return m.Error(absl::StrCat("node ", r.id, " has category ", c, " outside 0..",
                                        r.num_categories - 1));
          }
          int64_t ci = static_cast<int64_t>(c);
          bits_[n.cats + ci / 64] |= uint64_t{1} << (ci % 64);
        }
      }
      // Right pushed first so that the left subtree is laid out (and its
      // leaves numbered) first.
      stack.push_back({r.right, at, false});
      stack.push_back({r.left, at, true});
    }
    leaf_counts_.push_back(leaves);
    return absl::OkStatus();
  }

  // Index of the leaf `x` reaches in tree t.
  const FlatNode& Leaf(int t, const Vector& x) const {
    const FlatNode* n = &nodes_[roots_[t]];
    while (n->feature >= 0) {
      double v = ValueAt(x, n->feature);
      bool left;
      if (n->cats < 0) {
        left = v <= n->value;
      } else {
        bool is_cat = v >= 0 && v < n->num_categories && v == std::floor(v) && !std::signbit(v);
        bool in_left = is_cat && ((bits_[n->cats + static_cast<int64_t>(v) / 64] >>
                                   (static_cast<int64_t>(v) % 64)) & 1);
        left = n->smaller_is_left ? in_left : (in_left || !is_cat);
      }
      n = &nodes_[left ? n->left : n->right];
    }
    return *n;
  }

  int num_trees() const { return static_cast<int>(roots_.size()); }
  int32_t max_feature() const { return max_feature_; }
  const double* counts(const FlatNode& leaf) const { return counts_.data() + leaf.stats; }
  const double* normalized(const FlatNode& leaf) const {
    return normalized_.data() + leaf.stats;
  }

 private:
  static double ValueAt(const Vector& x, int32_t i) {
    if (x.dense) return i < static_cast<int32_t>(x.values.size()) ? x.values[i] : 0.0;
    auto it = std::lower_bound(x.indices.begin(), x.indices.end(), i);
    return it != x.indices.end() && *it == i ? x.values[it - x.indices.begin()] : 0.0;
  }

  int width_;
  std::vector<FlatNode> nodes_;
  std::vector<int32_t> roots_;
  std::vector<int32_t> leaf_counts_;
  std::vector<uint64_t> bits_;
  std::vector<double> counts_;      // raw class statistics per leaf
  std::vector<double> normalized_;  // the same divided by their sum
  int32_t max_feature_ = -1;
};

// ---------------------------------------------------------------------------
// Loading.

enum class Algo : uint8_t { kTree, kForest, kGbt };

struct Loaded {
  std::unique_ptr<Forest> forest;
  std::vector<double> weights;  // ensembles: one per tree
};

absl::StatusOr<Loaded> LoadForest(const StageMeta& m, Algo algo, int width) {
  Loaded out;
  out.forest = std::make_unique<Forest>(width);
  ASSIGN_OR_RETURN(parquet::Table data, m.ReadData("data"));
  if (algo == Algo::kTree) {
    ASSIGN_OR_RETURN(NodeLayout l, LayoutOf(m, data.schema));
    std::vector<NodeRecord> records;
    for (const auto& row : data.rows) {
      ASSIGN_OR_RETURN(NodeRecord r, ReadNode(m, l, row));
      records.push_back(std::move(r));
    }
    RETURN_IF_ERROR(out.forest->AddTree(m, std::move(records)));
    return out;
  }
  int tree_col = data.ColumnIndex("treeID");
  int node_col = data.ColumnIndex("nodeData");
  if (tree_col < 0 || node_col < 0) return m.Error("ensemble data lacks treeID/nodeData");
  ASSIGN_OR_RETURN(NodeLayout l, LayoutOf(m, data.schema.children[node_col]));
  std::map<int32_t, std::vector<NodeRecord>> trees;
  for (const auto& row : data.rows) {
    auto tid = Number(row.items[tree_col]);
    if (!tid.ok()) return m.Error("bad treeID");
    ASSIGN_OR_RETURN(NodeRecord r, ReadNode(m, l, row.items[node_col]));
    trees[static_cast<int32_t>(*tid)].push_back(std::move(r));
  }
  ASSIGN_OR_RETURN(parquet::Table meta_t, m.ReadData("treesMetadata"));
  int mt_tree = meta_t.ColumnIndex("treeID");
  int mt_weight = meta_t.ColumnIndex("weights");
  if (mt_tree < 0 && mt_weight < 0) {
    // Spark 4 writes the (treeID, metadata, weights) tuples unnamed.
    mt_tree = meta_t.ColumnIndex("_1");
    mt_weight = meta_t.ColumnIndex("_3");
  }
  if (mt_tree < 0 || mt_weight < 0) return m.Error("treesMetadata lacks treeID/weights (or _1/_3)");
  std::map<int32_t, double> weights;
  for (const auto& row : meta_t.rows) {
    auto tid = Number(row.items[mt_tree]);
    auto w = Number(row.items[mt_weight]);
    if (!tid.ok() || !w.ok()) return m.Error("bad treesMetadata row");
    weights[static_cast<int32_t>(*tid)] = *w;
  }
  if (trees.empty()) return m.Error("ensemble has no trees");
  for (auto& [tid, records] : trees) {
    auto w = weights.find(tid);
    if (w == weights.end()) return m.Error(absl::StrCat("tree ", tid, " has no weight"));
    out.weights.push_back(w->second);
    RETURN_IF_ERROR(out.forest->AddTree(m, std::move(records)));
  }
  if (m.raw.contains("numTrees") && m.raw["numTrees"].is_number() &&
      m.raw["numTrees"].get<int>() != out.forest->num_trees()) {
    return m.Error(absl::StrCat("metadata says ", m.raw["numTrees"].get<int>(),
                                " trees, the data has ", out.forest->num_trees()));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Stages.

// Sum of tree predictions times weights in the order of Spark's ddot (see
// models_linear.cc: a plain sum up to Spark 3.1, four fused lanes from 3.2,
// one fused sum per SIMD lane from 4.0; EVS_SPARK_JAVA_BLAS overrides).
enum class SumKind : uint8_t { kSequential, kLanes4, kLanes4Fma, kVector4, kVector8 };

struct FeaturesInput {
  int slot = -1;
  std::string name;
};

// One compiled tree model of any of the six kinds. Immutable once the
// factory returns; Apply is const (class scores go to the rawPrediction cell
// or to a scratch cell when Spark would not produce that column).
class TreeStage : public Stage {
 public:
  Algo algo_ = Algo::kTree;
  bool classification_ = false;
  int num_classes_ = 0;
  int32_t num_features_ = -1;
  std::unique_ptr<Forest> forest_;
  std::vector<double> weights_;
  SumKind sum_ = SumKind::kSequential;
  std::vector<double> thresholds_;
  FeaturesInput features_;
  int raw_slot_ = -1, prob_slot_ = -1, pred_slot_ = -1, leaf_slot_ = -1, variance_slot_ = -1;
  int raw_scratch_ = -1, prob_scratch_ = -1;

  absl::Status Apply(Row& row) const override {
    const Cell& fc = row.cells[features_.slot];
    if (fc.kind != Cell::Kind::kVector) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": features column '", features_.name,
                                                     "' is ",
                                                     fc.is_null() ? "null" : "not a vector"));
    }
    const Vector& x = fc.vec;
    if ((num_features_ >= 0 && x.size != num_features_) || x.size <= forest_->max_feature()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": features column '", features_.name, "' has ", x.size,
                       " elements, the model expects ",
                       num_features_ >= 0 ? num_features_ : forest_->max_feature() + 1));
    }
    if (leaf_slot_ >= 0) WriteLeaves(x, row);
    if (classification_) return Classify(x, row);
    double pred = 0;
    switch (algo_) {
      case Algo::kTree: {
        const FlatNode& leaf = forest_->Leaf(0, x);
        pred = leaf.value;
        if (variance_slot_ >= 0) row.cells[variance_slot_].SetNumber(leaf.impurity);
        break;
      }
      case Algo::kForest: {
        double s = 0.0;
        for (int t = 0; t < forest_->num_trees(); ++t) s += forest_->Leaf(t, x).value;
        pred = s / forest_->num_trees();
        break;
      }
      case Algo::kGbt: pred = Margin(x); break;
    }
    if (pred_slot_ >= 0) row.cells[pred_slot_].SetNumber(pred);
    return absl::OkStatus();
  }

 private:
  double Margin(const Vector& x) const {
    const int n = forest_->num_trees();
    if (sum_ == SumKind::kSequential) {
      double s = 0.0;
      for (int t = 0; t < n; ++t) s += forest_->Leaf(t, x).value * weights_[t];
      return s;
    }
    if (sum_ == SumKind::kVector8 || sum_ == SumKind::kVector4) {
      const int lanes = sum_ == SumKind::kVector8 ? 8 : 4;
      const int nb = n - n % lanes;
      double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int t = 0;
      for (; t < nb; ++t) acc[t % lanes] = std::fma(forest_->Leaf(t, x).value, weights_[t],
                                                   acc[t % lanes]);
      double s = acc[0];
      for (int j = 1; j < lanes; ++j) s += acc[j];
      for (; t < n; ++t) s += forest_->Leaf(t, x).value * weights_[t];
      return s;
    }
    const int n4 = n - n % 4;
    double l[4] = {0.0, 0.0, 0.0, 0.0};
    int t = 0;
    const bool fused = sum_ == SumKind::kLanes4Fma;
    for (; t < n4; ++t) {
      double p = forest_->Leaf(t, x).value;
      l[t % 4] = fused ? std::fma(p, weights_[t], l[t % 4]) : l[t % 4] + p * weights_[t];
    }
    double s = 0.0;
    s += l[0] + l[1] + l[2] + l[3];
    for (; t < n; ++t) {
      double p = forest_->Leaf(t, x).value;
      s = fused ? std::fma(p, weights_[t], s) : s + p * weights_[t];
    }
    return s;
  }

  void WriteLeaves(const Vector& x, Row& row) const {
    if (algo_ == Algo::kTree) {
      row.cells[leaf_slot_].SetNumber(forest_->Leaf(0, x).leaf);
      return;
    }
    double* out = Dense(row, leaf_slot_, forest_->num_trees());
    for (int t = 0; t < forest_->num_trees(); ++t) out[t] = forest_->Leaf(t, x).leaf;
  }

  static double* Dense(Row& row, int slot, int n) {
    Vector& v = row.cells[slot].MutableVector();
    v.dense = true;
    v.size = n;
    v.indices.clear();
    v.values.resize(n);
    return v.values.data();
  }

  absl::Status Classify(const Vector& x, Row& row) const {
    const int k = num_classes_;
    double* raw = Dense(row, raw_slot_ >= 0 ? raw_slot_ : raw_scratch_, k);
    switch (algo_) {
      case Algo::kTree: {
        const FlatNode& leaf = forest_->Leaf(0, x);
        const double* c = forest_->counts(leaf);
        for (int i = 0; i < k; ++i) raw[i] = c[i];
        break;
      }
      case Algo::kForest:
        for (int i = 0; i < k; ++i) raw[i] = 0.0;
        for (int t = 0; t < forest_->num_trees(); ++t) {
          const FlatNode& leaf = forest_->Leaf(t, x);
          if (leaf.stats_zero) continue;
          const double* p = forest_->normalized(leaf);
          for (int i = 0; i < k; ++i) raw[i] += p[i];
        }
        break;
      case Algo::kGbt: {
        double m = Margin(x);
        raw[0] = -m;
        raw[1] = m;
        break;
      }
    }
    const int prob_at = prob_slot_ >= 0 ? prob_slot_ : prob_scratch_;
    double* prob = nullptr;
    if (prob_at >= 0) {
      prob = Dense(row, prob_at, k);
      if (algo_ == Algo::kGbt) {
        // LogLoss.computeProbability on rawPrediction(0), the rest is 1 - p0.
        prob[0] = 1.0 / (1.0 + std::exp(-2.0 * raw[0]));
        prob[1] = 1.0 - prob[0];
      } else {
        double sum = 0.0;
        for (int i = 0; i < k; ++i) sum += raw[i];
        if (!(sum > 0)) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, ": cannot normalize a zero rawPrediction to probabilities"));
        }
        for (int i = 0; i < k; ++i) prob[i] = raw[i] / sum;
      }
    }
    if (pred_slot_ >= 0) {
      double pred;
      if (!thresholds_.empty() && prob != nullptr) {
        pred = ThresholdArgMax(prob);
      } else if (raw_slot_ >= 0 || prob == nullptr) {
        pred = ArgMax(raw, k);
      } else {
        pred = ArgMax(prob, k);
      }
      row.cells[pred_slot_].SetNumber(pred);
    }
    return absl::OkStatus();
  }

  static int ArgMax(const double* v, int n) {
    int best = 0;
    double max = v[0];
    for (int i = 1; i < n; ++i) {
      if (v[i] > max) {
        max = v[i];
        best = i;
      }
    }
    return best;
  }

  int ThresholdArgMax(const double* p) const {
    int best = 0;
    double max = -std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < thresholds_.size(); ++i) {
      double scaled = p[i] / thresholds_[i];
      if (scaled > max) {
        max = scaled;
        best = static_cast<int>(i);
      }
    }
    return best;
  }
};

struct Kind {
  const char* class_name;
  Algo algo;
  bool classification;
};

constexpr Kind kKinds[] = {
    {"org.apache.spark.ml.classification.DecisionTreeClassificationModel", Algo::kTree, true},
    {"org.apache.spark.ml.regression.DecisionTreeRegressionModel", Algo::kTree, false},
    {"org.apache.spark.ml.classification.RandomForestClassificationModel", Algo::kForest, true},
    {"org.apache.spark.ml.regression.RandomForestRegressionModel", Algo::kForest, false},
    {"org.apache.spark.ml.classification.GBTClassificationModel", Algo::kGbt, true},
    {"org.apache.spark.ml.regression.GBTRegressionModel", Algo::kGbt, false},
};

absl::StatusOr<std::unique_ptr<Stage>> MakeTree(const Kind& kind, const StageMeta& m,
                                                Schema& schema) {
  auto st = std::make_unique<TreeStage>();
  st->name = absl::StrCat(m.ShortClass(), " ", m.uid);
  st->algo_ = kind.algo;
  st->classification_ = kind.classification;
  if (m.spark_major >= 4) {
    st->sum_ = SumKind::kVector8;
  } else if (m.spark_major == 3 && m.spark_minor >= 2) {
    st->sum_ = SumKind::kLanes4Fma;
  }
  if (const char* env = std::getenv("EVS_SPARK_JAVA_BLAS"); env != nullptr) {
    std::string_view v(env);
    st->sum_ = v == "f2j"       ? SumKind::kSequential
               : v == "vector8" ? SumKind::kVector8
               : v == "vector4" ? SumKind::kVector4
               : v == "java8"   ? SumKind::kLanes4
                                : SumKind::kLanes4Fma;
  }
  auto meta_int = [&](const char* key, int fallback) {
    return m.raw.contains(key) && m.raw[key].is_number() ? m.raw[key].get<int>() : fallback;
  };
  st->num_features_ = meta_int("numFeatures", -1);
  if (kind.classification) {
    st->num_classes_ = kind.algo == Algo::kGbt ? 2 : meta_int("numClasses", -1);
    if (st->num_classes_ < 2) return m.Error("metadata lacks numClasses");
  }
  // Only single classification trees and forests read class statistics.
  int width = kind.classification && kind.algo != Algo::kGbt ? st->num_classes_ : 0;
  ASSIGN_OR_RETURN(Loaded loaded, LoadForest(m, kind.algo, width));
  st->forest_ = std::move(loaded.forest);
  st->weights_ = std::move(loaded.weights);
  if (st->num_features_ >= 0 && st->forest_->max_feature() >= st->num_features_) {
    return m.Error(absl::StrCat("a split reads feature ", st->forest_->max_feature(),
                                " of a model with ", st->num_features_, " features"));
  }

  st->features_.name = m.StrOr("featuresCol", "features");
  auto slot = schema.Require(st->features_.name, DataType::kVector);
  if (!slot.ok()) return m.Error(std::string(slot.status().message()));
  st->features_.slot = *slot;
  const ColumnInfo& col = schema.column(*slot);
  if (col.type != DataType::kVector) {
    return m.Error(absl::StrCat("features column '", st->features_.name, "' is ",
                                std::string(DataTypeName(col.type)), ", not vector"));
  }
  if (col.vector_size >= 0 && st->num_features_ >= 0 && col.vector_size != st->num_features_) {
    return m.Error(absl::StrCat("features column '", st->features_.name, "' has ",
                                col.vector_size, " elements, the model expects ",
                                st->num_features_));
  }
  st->reads = {st->features_.slot};

  auto add = [&](const std::string& name, DataType type, int size, int nominal) {
    ColumnInfo info;
    info.name = name;
    info.type = type;
    info.vector_size = size;
    if (nominal > 0) {
      Attribute a;
      a.type = Attribute::Type::kNominal;
      a.name = name;
      a.num_values = nominal;
      info.attrs.push_back(std::move(a));
    }
    int s = schema.AddOutput(std::move(info));
    st->writes.push_back(s);
    return s;
  };
  PredictorInfo p;
  p.stage_class = m.class_name;
  p.label_col = m.StrOr("labelCol", "label");
  if (kind.classification) {
    if (m.Has("thresholds") && !m.params["thresholds"].is_null()) {
      ASSIGN_OR_RETURN(st->thresholds_, m.NumList("thresholds"));
      if (static_cast<int>(st->thresholds_.size()) != st->num_classes_) {
        return m.Error(absl::StrCat("thresholds has ", st->thresholds_.size(),
                                    " values, the model has ", st->num_classes_, " classes"));
      }
    }
    std::string raw = m.StrOr("rawPredictionCol", "rawPrediction");
    std::string prob = m.StrOr("probabilityCol", "probability");
    std::string pred = m.StrOr("predictionCol", "prediction");
    if (!raw.empty()) st->raw_slot_ = add(raw, DataType::kVector, st->num_classes_, 0);
    if (!prob.empty()) st->prob_slot_ = add(prob, DataType::kVector, st->num_classes_, 0);
    if (!pred.empty()) st->pred_slot_ = add(pred, DataType::kDouble, -1, st->num_classes_);
    if (st->raw_slot_ < 0) st->raw_scratch_ = schema.AddScratch();
    if (st->prob_slot_ < 0 && !st->thresholds_.empty()) st->prob_scratch_ = schema.AddScratch();
    p.kind = PredictorInfo::Kind::kClassification;
    p.num_classes = st->num_classes_;
    p.raw_prediction_slot = st->raw_slot_;
    p.probability_slot = st->prob_slot_;
  } else {
    std::string pred = m.StrOr("predictionCol", "prediction");
    if (!pred.empty()) st->pred_slot_ = add(pred, DataType::kDouble, -1, 0);
    std::string variance = m.StrOr("varianceCol", "");
    if (kind.algo == Algo::kTree && !variance.empty()) {
      st->variance_slot_ = add(variance, DataType::kDouble, -1, 0);
    }
    p.kind = PredictorInfo::Kind::kRegression;
  }
  std::string leaf = m.StrOr("leafCol", "");
  if (!leaf.empty()) {
    st->leaf_slot_ = kind.algo == Algo::kTree
                         ? add(leaf, DataType::kDouble, -1, 0)
                         : add(leaf, DataType::kVector, st->forest_->num_trees(), 0);
  }
  p.prediction_slot = st->pred_slot_;
  schema.NotePredictor(std::move(p));
  return std::unique_ptr<Stage>(std::move(st));
}

}  // namespace

void RegisterTreeModels(StageRegistry& r) {
  for (const Kind& k : kKinds) {
    r.Add(k.class_name, [&k](const StageMeta& m, Schema& s) { return MakeTree(k, m, s); });
  }
}

}  // namespace evs::spark
