/*
 * ofa_tflm_profiler.h - TFLM profiler that feeds the runner's per-layer cycle counts.
 *
 * TFLM's MicroGraph wraps every op it invokes in BeginEvent(op name) / EndEvent(handle) of the
 * MicroProfilerInterface given to the MicroInterpreter. LayerProfiler turns those into
 * runner_layer_begin_named() / runner_layer_end() calls (firmware/runner/runner.h), so the
 * ofa-layers% command reports one record per op of the last inference.
 *
 * The generated main.cc passes a table with one entry per op of the model (in execution
 * order): the TFLite op name TFLM reports, the op kind ofa-mcu's latency tables use ("conv",
 * "pointwise", "depthwise", "add", "avgpool", "fc", ...) and a layer name. When the op TFLM reports
 * is not the one the table expects (a different model), the TFLM op name is reported as the
 * kind, unnamed. Nested events (an op that runs a subgraph) are not layers of their own.
 */
#ifndef OFA_TFLM_PROFILER_H
#define OFA_TFLM_PROFILER_H

#include <stdint.h>

#include <new>

#include "tensorflow/lite/micro/micro_profiler_interface.h"

namespace ofa {
namespace tflm {

/* One op of the model as the profiler reports it. All strings are literals. */
struct LayerInfo {
    const char *op;   /* TFLite builtin op name, as TFLM's profiler tag ("CONV_2D") */
    const char *kind; /* ofa-mcu op kind ("pointwise") */
    const char *name; /* layer name, or nullptr */
};

class LayerProfiler final : public tflite::MicroProfilerInterface {
public:
    LayerProfiler(const LayerInfo *layers, uint32_t count) : layers_(layers), count_(count) {}

    /* Call before each Invoke(): the next event is layer 0 again. */
    void Reset()
    {
        next_ = 0;
        open_ = kNoEvent;
    }

    uint32_t BeginEvent(const char *tag) override;
    void EndEvent(uint32_t event_handle) override;

private:
    static constexpr uint32_t kNoEvent = 0xFFFFFFFFu;

    const LayerInfo *layers_;
    uint32_t count_;
    uint32_t next_ = 0;         /* index of the next layer */
    uint32_t open_ = kNoEvent;  /* index of the layer being timed */
};

/*
 * Storage for one object that is built at run time (placement new, once the board is up) and
 * never destroyed: no destructor is registered with atexit and no heap is involved.
 */
template <typename T>
class NoDestroy {
public:
    template <typename... Args>
    T *Construct(Args &&...args)
    {
        return new (static_cast<void *>(storage_)) T(static_cast<Args &&>(args)...);
    }

private:
    alignas(T) unsigned char storage_[sizeof(T)];
};

} // namespace tflm
} // namespace ofa

#endif /* OFA_TFLM_PROFILER_H */
