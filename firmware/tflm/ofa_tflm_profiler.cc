/*
 * ofa_tflm_profiler.cc - LayerProfiler (see ofa_tflm_profiler.h).
 */
#include "ofa_tflm_profiler.h"

#include <string.h>

#include "runner.h"

namespace ofa {
namespace tflm {

uint32_t LayerProfiler::BeginEvent(const char *tag)
{
    if (open_ != kNoEvent) {
        return kNoEvent; /* nested in a layer being timed: part of that layer */
    }
    const uint32_t index = next_++;
    const char *kind = tag != nullptr ? tag : "?";
    const char *name = nullptr;
    if (index < count_ && tag != nullptr && strcmp(tag, layers_[index].op) == 0) {
        kind = layers_[index].kind;
        name = layers_[index].name;
    }
    open_ = index;
    runner_layer_begin_named(index, kind, name); /* reads the counter last */
    return index;
}

void LayerProfiler::EndEvent(uint32_t event_handle)
{
    if (event_handle == kNoEvent || event_handle != open_) {
        return;
    }
    runner_layer_end(event_handle);
    open_ = kNoEvent;
}

} // namespace tflm
} // namespace ofa
