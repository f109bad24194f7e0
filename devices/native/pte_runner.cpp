// edgebert native .pte benchmark runner.
//
// Loads one ExecuTorch program, feeds the three BERT inputs given on the command line,
// times load / first inference / warmup / >= N runs and >= S seconds, and prints ONE JSON
// line (the RunnerResult schema of edgebert/devices/base.py) as the last line of stdout.
// It links the runtime the executorch wheel ships, so kernels and the XNNPACK delegate
// register themselves when that library loads; nothing here is model specific.

#if __has_include(<executorch/extension/threadpool/threadpool.h>)
#include <executorch/extension/threadpool/threadpool.h>
#else
// 1.5 wheels ship the thread pool library but not its header: the two calls used here.
#include <cstddef>
#include <cstdint>
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool
#endif
#include <executorch/runtime/core/data_loader.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/hierarchical_allocator.h>
#include <executorch/runtime/core/memory_allocator.h>
#include <executorch/runtime/executor/memory_manager.h>
#include <executorch/runtime/executor/method.h>
#include <executorch/runtime/executor/method_meta.h>
#include <executorch/runtime/executor/program.h>
#include <executorch/runtime/platform/runtime.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#ifndef EDGEBERT_ET_VERSION
#define EDGEBERT_ET_VERSION "unknown"
#endif

namespace et = executorch::runtime;
using et::Error;
using et::etensor::ScalarType;

namespace {

[[noreturn]] void die(const std::string& msg, int code = 2) {
  std::fprintf(stderr, "pte_runner: %s\n", msg.c_str());
  std::exit(code);
}

double now_ms() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double, std::milli>(clock::now().time_since_epoch()).count();
}

// VmHWM is this process image's own high-water mark. getrusage's ru_maxrss is not: it keeps the
// parent's peak across fork/vfork + exec, so a runner started from a 500 MB Python would report 500 MB.
double peak_rss_mb() {
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    long kb = -1;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    std::fclose(f);
    if (kb >= 0) return kb / 1024.0;
  }
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // Linux reports kilobytes
}

// Whole file in memory: load time then includes reading the file, as on a phone.
class BufferLoader final : public et::DataLoader {
 public:
  explicit BufferLoader(std::vector<uint8_t> data) : data_(std::move(data)) {}
  et::Result<et::FreeableBuffer> load(size_t offset, size_t size, const SegmentInfo&) const override {
    if (offset + size > data_.size()) return Error::InvalidArgument;
    return et::FreeableBuffer(data_.data() + offset, size, nullptr);
  }
  et::Result<size_t> size() const override { return data_.size(); }

 private:
  std::vector<uint8_t> data_;
};

// Heap-backed allocator for the method's own bookkeeping (sizes vary per delegate).
class HeapAllocator final : public et::MemoryAllocator {
 public:
  HeapAllocator() : et::MemoryAllocator(0, nullptr) {}
  ~HeapAllocator() override { reset(); }
  void* allocate(size_t size, size_t alignment) override {
    void* p = nullptr;
    if (alignment < sizeof(void*)) alignment = sizeof(void*);
    if (posix_memalign(&p, alignment, size ? size : 1) != 0) return nullptr;
    blocks_.push_back(p);
    return p;
  }
  void reset() override {
    for (void* p : blocks_) std::free(p);
    blocks_.clear();
  }

 private:
  std::vector<void*> blocks_;
};

struct Args {
  std::string model;
  std::string csv[3];
  int warmup = 3, runs = 20, threads = 0;
  double min_seconds = 1.0;
};

Args parse_args(int argc, char** argv) {
  Args a;
  const char* names[3] = {"--input-ids", "--attention-mask", "--token-type-ids"};
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::printf("usage: pte_runner --model PATH --input-ids CSV --attention-mask CSV --token-type-ids CSV "
                  "[--warmup W] [--runs N] [--min-seconds S] [--threads T]\n");
      std::exit(0);
    }
    if (i + 1 >= argc) die("missing value for " + k);
    std::string v = argv[++i];
    bool matched = false;
    for (int j = 0; j < 3; ++j)
      if (k == names[j]) a.csv[j] = v, matched = true;
    if (matched) continue;
    try {
      if (k == "--model") a.model = v;
      else if (k == "--warmup") a.warmup = std::stoi(v);
      else if (k == "--runs") a.runs = std::stoi(v);
      else if (k == "--min-seconds") a.min_seconds = std::stod(v);
      else if (k == "--threads") a.threads = std::stoi(v);
      else die("unknown option " + k);
    } catch (const std::exception&) {
      die("bad value for " + k + ": " + v);
    }
  }
  if (a.model.empty()) die("--model is required");
  if (a.runs < 1 || a.warmup < 0 || a.min_seconds < 0) die("--runs must be >= 1, --warmup and --min-seconds >= 0");
  return a;
}

std::vector<int64_t> parse_csv(const std::string& s, const char* what) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    if (tok.empty()) continue;
    try {
      out.push_back(std::stoll(tok));
    } catch (const std::exception&) {
      die(std::string("not an integer in ") + what + ": " + tok);
    }
  }
  return out;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) die("cannot open model " + path);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// One input tensor: owns its data, sizes, dim order and strides (TensorImpl only points).
struct InputTensor {
  std::vector<int64_t> i64;
  std::vector<int32_t> i32;
  std::vector<et::etensor::TensorImpl::SizesType> sizes;
  std::vector<et::etensor::TensorImpl::DimOrderType> dim_order;
  std::vector<et::etensor::TensorImpl::StridesType> strides;
  std::unique_ptr<et::etensor::TensorImpl> impl;
};

void make_input(InputTensor& t, const std::vector<int64_t>& values, const et::TensorInfo& info, size_t idx) {
  ScalarType dtype = info.scalar_type();
  auto meta_sizes = info.sizes();
  int64_t numel = 1;
  for (auto s : meta_sizes) numel *= s;
  if (static_cast<int64_t>(values.size()) == numel) {
    t.sizes.assign(meta_sizes.begin(), meta_sizes.end());
  } else {  // dynamic sequence length: [1, len] within the program's upper bound
    t.sizes = {1, static_cast<et::etensor::TensorImpl::SizesType>(values.size())};
  }
  const size_t dim = t.sizes.size();
  t.dim_order.resize(dim);
  t.strides.resize(dim);
  for (size_t d = 0; d < dim; ++d) t.dim_order[d] = static_cast<uint8_t>(d);
  int32_t stride = 1;
  for (size_t d = dim; d-- > 0;) t.strides[d] = stride, stride *= t.sizes[d];
  void* data = nullptr;
  if (dtype == ScalarType::Long) {
    t.i64 = values;
    data = t.i64.data();
  } else if (dtype == ScalarType::Int) {
    t.i32.assign(values.begin(), values.end());
    data = t.i32.data();
  } else {
    die("input " + std::to_string(idx) + " has dtype " + std::to_string(static_cast<int>(dtype)) +
        ", expected int32 or int64");
  }
  t.impl = std::make_unique<et::etensor::TensorImpl>(dtype, static_cast<ssize_t>(dim), t.sizes.data(), data,
                                                      t.dim_order.data(), t.strides.data(),
                                                      et::TensorShapeDynamism::DYNAMIC_BOUND);
}

double percentile(const std::vector<double>& sorted, double q) {  // numpy's default (linear)
  if (sorted.size() == 1) return sorted[0];
  double pos = q / 100.0 * (sorted.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse_args(argc, argv);
  et::runtime_init();
  const double rss_start = peak_rss_mb();

  if (args.threads > 0)
    executorch::extension::threadpool::get_threadpool()->_unsafe_reset_threadpool(args.threads);
  auto* pool = executorch::extension::threadpool::get_threadpool();
  const int threads = pool ? static_cast<int>(pool->get_thread_count()) : 1;

  // --- load: read file, parse program, plan memory, initialise delegates
  const double t_load = now_ms();
  BufferLoader loader(read_file(args.model));
  auto program = et::Program::load(&loader, et::Program::Verification::Minimal);
  if (!program.ok()) die("not a valid .pte program: " + args.model + " (error " +
                         std::to_string(static_cast<int>(program.error())) + ")");
  auto meta = program->method_meta("forward");
  if (!meta.ok()) die("program has no 'forward' method");
  std::vector<std::unique_ptr<uint8_t[]>> planned;
  std::vector<et::Span<uint8_t>> spans;
  for (size_t i = 0; i < meta->num_memory_planned_buffers(); ++i) {
    size_t n = meta->memory_planned_buffer_size(i).get();
    planned.emplace_back(new uint8_t[n]);
    spans.emplace_back(planned.back().get(), n);
  }
  HeapAllocator method_alloc;
  et::HierarchicalAllocator planned_memory({spans.data(), spans.size()});
  et::MemoryManager memory(&method_alloc, &planned_memory);
  auto method = program->load_method("forward", &memory);
  if (!method.ok()) die("cannot load method 'forward' (error " + std::to_string(static_cast<int>(method.error())) +
                        "); a delegate or kernel this program needs may be missing from the runtime");
  const double load_ms = now_ms() - t_load;

  // --- inputs
  const size_t n_inputs = meta->num_inputs();
  if (n_inputs > 3) die("program takes " + std::to_string(n_inputs) + " inputs, expected at most 3");
  std::vector<InputTensor> inputs(n_inputs);
  const char* what[3] = {"--input-ids", "--attention-mask", "--token-type-ids"};
  for (size_t i = 0; i < n_inputs; ++i) {
    auto info = meta->input_tensor_meta(i);
    if (!info.ok()) die("input " + std::to_string(i) + " is not a tensor");
    if (args.csv[i].empty()) die(std::string(what[i]) + " is required by this program");
    make_input(inputs[i], parse_csv(args.csv[i], what[i]), info.get(), i);
  }
  auto run_once = [&]() {
    for (size_t i = 0; i < n_inputs; ++i) {
      et::etensor::Tensor t(inputs[i].impl.get());
      Error e = method->set_input(et::EValue(t), i);
      if (e != Error::Ok) die("set_input " + std::to_string(i) + " failed (error " +
                              std::to_string(static_cast<int>(e)) + "); wrong sequence length?");
    }
    Error e = method->execute();
    if (e != Error::Ok) die("execute failed (error " + std::to_string(static_cast<int>(e)) + ")", 3);
  };

  // --- first inference, warmup, timed runs (>= N runs AND >= S seconds)
  double t0 = now_ms();
  run_once();
  const double first_ms = now_ms() - t0;
  for (int i = 0; i < args.warmup; ++i) run_once();
  std::vector<double> lat;
  const double start = now_ms();
  while (static_cast<int>(lat.size()) < args.runs || (now_ms() - start) < args.min_seconds * 1000.0) {
    t0 = now_ms();
    run_once();
    lat.push_back(now_ms() - t0);
  }
  const double seconds = (now_ms() - start) / 1000.0;

  std::vector<double> sorted = lat;
  std::sort(sorted.begin(), sorted.end());
  double mean = 0, var = 0;
  for (double v : lat) mean += v;
  mean /= lat.size();
  for (double v : lat) var += (v - mean) * (v - mean);
  const double stdev = std::sqrt(var / lat.size());

  // --- outputs of the last run: logits as rows
  std::string outputs = "[";
  for (size_t o = 0; o < method->outputs_size(); ++o) {
    const et::EValue& ev = method->get_output(o);
    if (!ev.isTensor()) continue;
    auto t = ev.toTensor();
    if (t.scalar_type() != ScalarType::Float) continue;
    const float* d = t.const_data_ptr<float>();
    const ssize_t cols = t.dim() > 0 ? t.size(t.dim() - 1) : 1;
    const ssize_t rows = cols ? t.numel() / cols : 0;
    for (ssize_t r = 0; r < rows; ++r) {
      if (outputs.size() > 1) outputs += ",";
      outputs += "[";
      for (ssize_t c = 0; c < cols; ++c) outputs += (c ? "," : "") + num(d[r * cols + c]);
      outputs += "]";
    }
    break;  // the logits are the first float output
  }
  outputs += "]";

  const bool xnnpack = meta->uses_backend("XnnpackBackend");
  std::string runtime = std::string("executorch ") + EDGEBERT_ET_VERSION + " native (" +
                        (xnnpack ? "XNNPACK" : "portable kernels") + ")";
  std::printf(
      "{\"format\": \"pte\", \"runtime\": %s, \"threads\": %d, \"load_ms\": %s, \"first_inference_ms\": %s, "
      "\"warmup_runs\": %d, \"runs\": %zu, \"seconds\": %s, \"latency_ms\": {\"p50\": %s, \"p90\": %s, "
      "\"p99\": %s, \"mean\": %s, \"std\": %s, \"min\": %s, \"max\": %s}, \"peak_rss_mb\": %s, "
      "\"outputs\": %s, \"extra\": {\"runner\": \"edgebert pte_runner\", \"xnnpack\": %s, "
      "\"rss_before_load_mb\": %s}}\n",
      json_str(runtime).c_str(), threads, num(load_ms).c_str(), num(first_ms).c_str(), args.warmup, lat.size(),
      num(seconds).c_str(), num(percentile(sorted, 50)).c_str(), num(percentile(sorted, 90)).c_str(),
      num(percentile(sorted, 99)).c_str(), num(mean).c_str(), num(stdev).c_str(), num(sorted.front()).c_str(),
      num(sorted.back()).c_str(), num(peak_rss_mb()).c_str(), outputs.c_str(), xnnpack ? "true" : "false",
      num(rss_start).c_str());
  std::fflush(stdout);
  return 0;
}
