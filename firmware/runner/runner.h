/*
 * runner.h - the serial protocol loop (MLPerf Tiny / EEMBC runner compatible, plus ofa-mcu
 * extensions) around any model: TFLM interpreter, generated native C, or a test fixture.
 *
 * The model side fills a runner_model_t and calls runner_main(), which never returns. During
 * invoke() the model may report its layers with runner_layer_begin()/runner_layer_end() (native
 * code calls them around each op; a TFLM MicroProfiler subclass calls them from
 * BeginEvent/EndEvent); the runner keeps the per-layer cycles of the last inference.
 *
 * Commands (end with '%', reply ends with "m-ready"): name, profile, db load N, db <hex>,
 * db print, infer N W, results, and the extensions ofa-info, ofa-cycles, ofa-layers, ofa-mem,
 * ofa-out, ofa-mode (see runner.c and DESIGN.md).
 *
 * A firmware with several operating modes (subnets switchable at run time, one shared arena)
 * fills one runner_model_t per mode and calls runner_main_modes(): `ofa-mode N%` switches the
 * application's model (runner_modes_t.select) and the runner's view of it between inferences.
 */
#ifndef OFA_RUNNER_H
#define OFA_RUNNER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct runner_model {
    const char *name;    /* model name (m-model-[...], ofa-info) */
    const char *runtime; /* "tflm", "native", or anything descriptive */

    uint32_t input_bytes; /* size of the int8 input tensor */
    int8_t *input;        /* the input tensor invoke() reads; refilled before every run */
    int8_t *input_store;  /* input_bytes of RAM holding the `db`-loaded input (not the tensor) */

    uint32_t output_bytes; /* size of the int8 output tensor */
    const int8_t *output;  /* where invoke() leaves its output */
    float output_scale;    /* m-results dequantization: scale * (q - zero_point); 0 = raw q */
    int32_t output_zero_point;

    int (*invoke)(void); /* one inference; 0 = success */

    uint32_t arena_bytes;          /* arena reserved (linker section .arena) */
    uint32_t (*arena_used)(void);  /* arena bytes actually used, or NULL (then arena_bytes) */
} runner_model_t;

/* One operating mode of a multi-mode firmware. */
typedef struct runner_mode {
    const char *name;          /* mode name (ofa-mode replies) */
    const char *input_shape;   /* the input tensor's shape, e.g. "1x16x16x1" (NHWC) */
    const runner_model_t *model;
} runner_mode_t;

typedef struct runner_modes {
    uint32_t count;              /* number of modes (>= 1) */
    const runner_mode_t *modes;  /* count entries; modes[0] is selected at start-up */
    int (*select)(uint32_t index); /* the application's switch (ofa_model_select): 0 = switched */
} runner_modes_t;

/* Serve the protocol forever on the BSP UART (calls bsp_init() if needed). */
void runner_main(const runner_model_t *model) __attribute__((noreturn));

/* The same for a firmware with several modes (starts in mode 0; `ofa-mode N%` switches). */
void runner_main_modes(const runner_modes_t *modes) __attribute__((noreturn));

/*
 * Profiling hooks, called by the model inside invoke() around each layer (not nested). `kind`
 * (op kind, e.g. "conv" or TFLM's "CONV_2D") and `name` must stay valid (literals); `name` may be
 * NULL. The runner keeps up to RUNNER_MAX_LAYERS records of the last inference (ofa-layers%).
 */
void runner_layer_begin(uint32_t index, const char *kind);
void runner_layer_begin_named(uint32_t index, const char *kind, const char *name);
void runner_layer_end(uint32_t index);

#ifdef __cplusplus
}
#endif

#endif /* OFA_RUNNER_H */
