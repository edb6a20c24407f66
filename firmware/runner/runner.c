/*
 * runner.c - MLPerf Tiny / EEMBC runner protocol (performance mode) plus ofa-mcu extensions.
 *
 * Standard commands and replies (every command ends with '%', every reply with "m-ready"):
 *   name%            m-name-dut-[<model>]
 *   profile%         m-profile-[ULPMark for tinyML Firmware V0.0.1]  m-model-[<model>]
 *   db load N%       m-[Expecting N bytes]
 *   db <hex>%        (bytes appended; after the N-th:) m-load-done. A firmware built for a
 *                    uint8 data set (RUNNER_DB_INPUT_XOR 0x80: ic01 and vww01, whose official
 *                    data sets are uint8 images) shifts each byte by -128 into the int8 input,
 *                    as the reference submissions' th_load_tensor does
 *   db print%        m-buffer-xx-xx-...  (8 bytes a line)
 *   infer N W%       m-warmup-start-W  m-warmup-done  m-infer-start-N  m-lap-us-T0  m-lap-us-T1
 *                    m-infer-done  m-results-[v0,v1,...]
 *   results%         m-results-[v0,v1,...]
 *   errors           e-[...]
 * Extensions (new command names only; replies "m-ofa-<what>-[key=value,...]"):
 *   ofa-info%        m-ofa-info-[board=..,core=..,counter=dwt|systick,clock_hz=..,emulated=0|1,
 *                    model=..,runtime=..,input_bytes=..,output_bytes=..,arena_bytes=..,
 *                    max_layers=..,max_runs=..,db_input=int8|uint8,version=1]
 *   ofa-cycles%      m-ofa-cycles-[runs=N,warmup=W,sum=S,min=..,max=..,recorded=K]
 *                    m-ofa-cycles-list-[c0,c1,...]   (first K timed runs of the last infer)
 *   ofa-layers%      m-ofa-layers-[count=K,dropped=D]  then K lines  m-ofa-layer-[index,kind,cycles]
 *                    or m-ofa-layer-[index,kind,cycles,name] for named layers
 *                    (the last inference; D layers did not fit RUNNER_MAX_LAYERS)
 *   ofa-mem%         m-ofa-mem-[arena_used=..,arena_bytes=..,stack_used=..,stack_bytes=..,
 *                    static_ram=..]
 *   ofa-out%         m-ofa-out-[q0,q1,...]  (raw int8 output of the last inference)
 *   ofa-mode%        m-ofa-mode-[index=i,count=K,name=..,input_shape=1xHxWxC,input_bytes=..,
 *                    output_bytes=..,arena_bytes=..]  (the selected operating mode)
 *   ofa-mode N%      switch to mode N (between inferences; allocates nothing), then the same
 *                    reply for mode N; the loaded input and the last results are dropped (the
 *                    new mode may take another input size: `db load` again). A firmware with
 *                    one model has one mode, 0 (no input_shape). ofa-info also reports
 *                    modes=K,mode=i.
 * Cycle figures are bsp_cycles() ticks (core cycles; under QEMU -icount, virtual time at the
 * board clock). The start-up banner is m-timestamp-mode-performance, m-init-done, m-ready; a
 * build for the MLPerf Tiny energy mode (bsp_energy_mode()) says m-timestamp-mode-energy and
 * pulses the timestamp pin (bsp_timestamp()) where m-lap-us-T0 / -T1 would be taken, and prints
 * no m-lap-us lines; every other reply is the same.
 *
 * MLPerf Tiny runner: m-results are the output tensor dequantized as the reference submissions
 * print them (printf "%0.3f" of (q - zero_point) * scale; a model ending in SOFTMAX gives class
 * probabilities, which the runner normalizes by their sum before its argmax). Apart from the
 * start-up banner nothing is printed except replies to commands, so a host that closes the port
 * and opens it again between commands (the runner does after name% and profile%; on a TCP socket
 * a new connection) never finds a stray line that would shift every later reply. `db` takes the
 * runner's 31-byte (62 hex digit) chunks and longer ones, up to RUNNER_CMD_BYTES per command.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "board_config.h" /* RUNNER_DB_INPUT_XOR (--db-input) */
#include "bsp.h"
#include "runner.h"

#ifndef RUNNER_CMD_BYTES
#define RUNNER_CMD_BYTES 256 /* longest command line kept (db <hex> chunks included) */
#endif
#ifndef RUNNER_MAX_LAYERS
#define RUNNER_MAX_LAYERS 128 /* per-layer records kept for the last inference */
#endif
#ifndef RUNNER_MAX_RUNS
#define RUNNER_MAX_RUNS 64 /* per-inference cycle counts kept for ofa-cycles */
#endif

#ifndef RUNNER_DB_INPUT_XOR
#define RUNNER_DB_INPUT_XOR 0x00u /* 0x80: `db` bytes are uint8, shifted by -128 into the int8 input */
#endif

#define NL "\r\n"

typedef struct {
    const char *kind;
    const char *name;
    uint32_t index;
    uint32_t cycles;
} layer_record_t;

static const runner_model_t *s_model;

/* Operating modes. A firmware with one model has one mode, 0, and no switch. runner_main_modes()
 * installs mode_switch(), so only a firmware that calls it links the code that reads the modes
 * table and switches (--gc-sections drops it elsewhere). */
static const runner_modes_t *s_modes;
static uint32_t s_mode;
static uint32_t s_mode_count = 1u;
static const char *s_mode_name;        /* the selected mode's name; NULL: the model's */
static const char *s_mode_shape;       /* its input shape; NULL: none reported */
static int (*s_mode_switch)(uint32_t); /* switch to mode n (0 = switched); NULL: one mode */

/* Command line being received. */
static char s_cmd[RUNNER_CMD_BYTES + 1];
static uint32_t s_cmd_len;
static int s_cmd_overflow;

/* db load state. */
static uint32_t s_load_size;
static uint32_t s_load_pos;
static int s_loading;

/* Last infer. */
static uint32_t s_runs;
static uint32_t s_warmup;
static uint64_t s_sum;
static uint32_t s_min;
static uint32_t s_max;
static uint32_t s_recorded;
static uint32_t s_run_cycles[RUNNER_MAX_RUNS];
static int s_have_output;

/* Layers of the inference in progress / the last one. */
static layer_record_t s_layers[RUNNER_MAX_LAYERS];
static uint32_t s_layer_count;
static uint32_t s_layer_dropped;
static int s_layer_open = -1;
static uint32_t s_layer_start;

/* 64-bit extension of bsp_cycles() (call at least once per 2^32 cycles). */
static uint64_t s_now64;
static uint32_t s_last32;

/* ---------------------------------------------------------------------------------------- */
/* output formatting (no newlib stdio)                                                      */

static void out(const char *s)
{
    bsp_puts(s);
}

static void out_u64(uint64_t v)
{
    char buf[21];
    unsigned i = sizeof buf;
    do {
        buf[--i] = (char)('0' + (unsigned)(v % 10u));
        v /= 10u;
    } while (v != 0u && i > 0u);
    bsp_write(&buf[i], (unsigned)(sizeof buf - i));
}

static void out_u32(uint32_t v)
{
    char buf[10];
    unsigned i = sizeof buf;
    do {
        buf[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u && i > 0u);
    bsp_write(&buf[i], (unsigned)(sizeof buf - i));
}

static void out_i32(int32_t v)
{
    if (v < 0) {
        bsp_putc('-');
        out_u32((uint32_t)(-(v + 1)) + 1u);
    } else {
        out_u32((uint32_t)v);
    }
}

static void out_hex8(uint8_t v)
{
    static const char digits[] = "0123456789abcdef";
    bsp_putc(digits[v >> 4]);
    bsp_putc(digits[v & 0xFu]);
}

/* A free-form string inside [...]: separators would break the reply format, so they become '_'. */
static void out_field(const char *s)
{
    if (s == NULL) {
        out("?");
        return;
    }
    for (; *s != '\0'; ++s) {
        char c = *s;
        if (c == ',' || c == '[' || c == ']' || c == '%' || c == '\r' || c == '\n') {
            c = '_';
        }
        bsp_putc(c);
    }
}

static void out_kv(const char *key, uint32_t value, int first)
{
    if (!first) {
        bsp_putc(',');
    }
    out(key);
    bsp_putc('=');
    out_u32(value);
}

/*
 * One m-results value as the MLPerf Tiny reference submissions print it:
 * th_printf("%0.3f", (float)(q - zero_point) * scale). The float is mant * 2^e exactly (24
 * significant bits), so its value times 1000 is mant * 1000 * 2^e, an integer of at most 34 bits
 * shifted: rounding that to an integer, ties to even as printf rounds an exact decimal tie, gives
 * printf's three decimals without stdio or double arithmetic (which would link several KB of
 * soft-float code on cores without a double FPU).
 */
#define RESULT_MILLI_MAX 1000000000000000ull /* 1e15: far beyond any output, keeps the integer part in range */

static void out_result(float value)
{
    uint32_t bits;
    uint32_t exp;
    uint64_t x;
    uint64_t milli;
    memcpy(&bits, &value, sizeof bits);
    exp = (bits >> 23) & 0xFFu;
    x = bits & 0x7FFFFFu;
    if (exp == 0xFFu) {
        milli = RESULT_MILLI_MAX; /* never printed: an output is finite */
    } else {
        int32_t e;
        if (exp != 0u) {
            x |= 0x800000u;
        } else {
            exp = 1u; /* subnormal */
        }
        e = (int32_t)exp - 150; /* value = x * 2^e */
        x *= 1000u;             /* exact: below 2^34 */
        if (e >= 0) {
            milli = e > 16 ? RESULT_MILLI_MAX : x << e;
            milli = milli > RESULT_MILLI_MAX ? RESULT_MILLI_MAX : milli;
        } else if (e < -60) {
            milli = 0u; /* below 2^-26 */
        } else {
            const uint32_t s = (uint32_t)-e;
            const uint64_t rem = x & ((1ull << s) - 1u);
            const uint64_t half = 1ull << (s - 1u);
            milli = x >> s;
            if (rem > half || (rem == half && (milli & 1u) != 0u)) {
                ++milli;
            }
        }
    }
    if ((bits & 0x80000000u) != 0u) {
        bsp_putc('-'); /* as printf: -0.000 for a negative value that rounds to zero (and for -0) */
    }
    out_u64(milli / 1000u);
    bsp_putc('.');
    bsp_putc((char)('0' + (unsigned)((milli / 100u) % 10u)));
    bsp_putc((char)('0' + (unsigned)((milli / 10u) % 10u)));
    bsp_putc((char)('0' + (unsigned)(milli % 10u)));
}

/* ---------------------------------------------------------------------------------------- */
/* time                                                                                      */

static uint64_t now64(void)
{
    uint32_t c = bsp_cycles();
    s_now64 += (uint32_t)(c - s_last32);
    s_last32 = c;
    return s_now64;
}

static uint64_t cycles_to_us(uint64_t cycles)
{
    uint64_t hz = bsp_clock_hz();
    return (cycles / hz) * 1000000u + ((cycles % hz) * 1000000u) / hz;
}

/* ---------------------------------------------------------------------------------------- */
/* profiling hooks                                                                           */

void runner_layer_begin_named(uint32_t index, const char *kind, const char *name)
{
    if (s_layer_count >= RUNNER_MAX_LAYERS) {
        ++s_layer_dropped;
        s_layer_open = -1;
        return;
    }
    layer_record_t *rec = &s_layers[s_layer_count];
    rec->kind = kind;
    rec->name = name;
    rec->index = index;
    rec->cycles = 0u;
    s_layer_open = (int)s_layer_count;
    ++s_layer_count;
    s_layer_start = bsp_cycles(); /* last: the bookkeeping above is not charged to the layer */
}

void runner_layer_begin(uint32_t index, const char *kind)
{
    runner_layer_begin_named(index, kind, NULL);
}

void runner_layer_end(uint32_t index)
{
    uint32_t now = bsp_cycles();
    int i = s_layer_open;
    if (i >= 0 && s_layers[i].index == index) {
        s_layers[i].cycles = now - s_layer_start;
    }
    s_layer_open = -1;
}

/* ---------------------------------------------------------------------------------------- */
/* parsing helpers                                                                           */

static char *next_token(char **cursor)
{
    char *p = *cursor;
    char *start;
    while (*p == ' ') {
        ++p;
    }
    if (*p == '\0') {
        *cursor = p;
        return NULL;
    }
    start = p;
    while (*p != '\0' && *p != ' ') {
        ++p;
    }
    if (*p == ' ') {
        *p++ = '\0';
    }
    *cursor = p;
    return start;
}

/* Decimal unsigned; -1 if not a number or too large. */
static int32_t parse_u31(const char *s)
{
    uint32_t v = 0;
    if (s == NULL || *s == '\0') {
        return -1;
    }
    for (; *s != '\0'; ++s) {
        if (*s < '0' || *s > '9') {
            return -1;
        }
        v = v * 10u + (uint32_t)(*s - '0');
        if (v > 0x7FFFFFFFu / 10u) {
            return -1;
        }
    }
    return (int32_t)v;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* (a byte loop: newlib's strcmp, tuned for long strings, is 700-odd bytes of flash on ARMv7-M) */
static int streq(const char *a, const char *b)
{
    if (a == NULL) {
        return 0;
    }
    while (*a != '\0' && *a == *b) {
        ++a;
        ++b;
    }
    return *a == *b;
}

/* ---------------------------------------------------------------------------------------- */
/* commands                                                                                  */

/* m-results-[v0,v1,...]: the output tensor dequantized, three decimals (raw q if no scale). A
 * model ending in SOFTMAX prints class probabilities, which the MLPerf Tiny runner expects. */
static void print_results(void)
{
    const runner_model_t *m = s_model;
    out("m-results-[");
    for (uint32_t i = 0; i < m->output_bytes; ++i) {
        int32_t q = m->output[i];
        if (i > 0u) {
            bsp_putc(',');
        }
        if (m->output_scale != 0.0f) {
            out_result((float)(q - m->output_zero_point) * m->output_scale);
        } else {
            out_i32(q);
        }
    }
    out("]" NL);
}

static void cmd_db(char **cursor)
{
    const runner_model_t *m = s_model;
    char *sub = next_token(cursor);
    if (sub == NULL) {
        out("e-[Command 'db' requires a subcommand]" NL);
        return;
    }
    if (streq(sub, "load")) {
        int32_t n = parse_u31(next_token(cursor));
        if (n < 0) {
            out("e-[Command 'db load' requires the # of bytes]" NL);
        } else if (n == 0) {
            out("e-[Command 'db load' must be >0 bytes]" NL);
        } else if ((uint32_t)n > m->input_bytes) {
            out("e-[Supplied buffer size ");
            out_u32((uint32_t)n);
            out(" exceeds maximum of ");
            out_u32(m->input_bytes);
            out("]" NL);
        } else {
            s_load_size = (uint32_t)n;
            s_load_pos = 0;
            s_loading = 1;
            out("m-[Expecting ");
            out_u32((uint32_t)n);
            out(" bytes]" NL);
        }
        return;
    }
    if (streq(sub, "print")) {
        uint32_t i;
        for (i = 0; i < s_load_size; ++i) {
            if (i % 8u == 0u) {
                out("m-buffer-");
            }
            out_hex8((uint8_t)m->input_store[i]);
            if ((i + 1u) % 8u == 0u || i + 1u == s_load_size) {
                out(NL);
            } else {
                bsp_putc('-');
            }
        }
        return;
    }
    /* db <hex>[ <hex>...] */
    for (char *hex = sub; hex != NULL; hex = next_token(cursor)) {
        uint32_t len = (uint32_t)strlen(hex);
        if (!s_loading) {
            out("e-[No 'db load' in progress]" NL);
            return;
        }
        if ((len & 1u) != 0u) {
            out("e-[Insufficent number of hex digits]" NL);
            return;
        }
        for (uint32_t i = 0; i < len; i += 2u) {
            int hi = hex_value(hex[i]);
            int lo = hex_value(hex[i + 1u]);
            if (hi < 0 || lo < 0) {
                out("e-[Invalid hex digit '");
                bsp_putc(hex[i]);
                bsp_putc(hex[i + 1u]);
                out("']" NL);
                return;
            }
            m->input_store[s_load_pos++] = (int8_t)(uint8_t)(((unsigned)hi << 4 | (unsigned)lo) ^ RUNNER_DB_INPUT_XOR);
            if (s_load_pos == s_load_size) {
                s_loading = 0;
                out("m-load-done" NL);
                return;
            }
        }
    }
}

/* One inference: refill the input tensor from the loaded copy, invoke, time it. */
static int run_once(uint32_t *cycles)
{
    const runner_model_t *m = s_model;
    uint64_t c0;
    uint64_t c1;
    int rc;
    memcpy(m->input, m->input_store, m->input_bytes);
    s_layer_count = 0;
    s_layer_dropped = 0;
    s_layer_open = -1;
    c0 = now64();
    rc = m->invoke();
    c1 = now64();
    *cycles = (uint32_t)(c1 - c0);
    return rc;
}

static int report_invoke_error(int rc)
{
    out("e-[invoke failed with status ");
    out_i32(rc);
    out("]" NL);
    return rc;
}

static void cmd_infer(char **cursor)
{
    int32_t n = 1;
    int32_t w = 10;
    char *tok = next_token(cursor);
    uint32_t cycles;
    uint64_t t0;
    uint64_t t1;
    if (tok != NULL) {
        n = parse_u31(tok);
        if (n <= 0) {
            out("e-[Inference iterations must be >0]" NL);
            return;
        }
        tok = next_token(cursor);
        if (tok != NULL) {
            w = parse_u31(tok);
            if (w < 0) {
                out("e-[Inference warmup must be >=0]" NL);
                return;
            }
        }
    }
    if (s_loading) {
        out("e-[Input incomplete: ");
        out_u32(s_load_pos);
        out(" of ");
        out_u32(s_load_size);
        out(" bytes loaded]" NL);
        return;
    }
    out("m-warmup-start-");
    out_u32((uint32_t)w);
    out(NL);
    for (int32_t i = 0; i < w; ++i) {
        int rc = run_once(&cycles);
        if (rc != 0) {
            report_invoke_error(rc);
            return;
        }
    }
    out("m-warmup-done" NL);
    out("m-infer-start-");
    out_u32((uint32_t)n);
    out(NL);
    s_runs = 0;
    s_warmup = (uint32_t)w;
    s_sum = 0;
    s_min = 0xFFFFFFFFu;
    s_max = 0;
    s_recorded = 0;
    t0 = now64();
    bsp_timestamp(); /* energy mode: the first timestamp pulse (no-op in performance mode) */
    for (int32_t i = 0; i < n; ++i) {
        int rc = run_once(&cycles);
        if (rc != 0) {
            report_invoke_error(rc);
            return;
        }
        ++s_runs;
        s_sum += cycles;
        s_min = cycles < s_min ? cycles : s_min;
        s_max = cycles > s_max ? cycles : s_max;
        if (s_recorded < RUNNER_MAX_RUNS) {
            s_run_cycles[s_recorded++] = cycles;
        }
    }
    bsp_timestamp();
    t1 = now64();
    s_have_output = 1;
    /* Both timestamps are taken around the loop and printed after it, so printing T0 does
     * not count as inference time. In the energy mode they were GPIO pulses instead. */
    if (!bsp_energy_mode()) {
        out("m-lap-us-");
        out_u64(cycles_to_us(t0));
        out(NL "m-lap-us-");
        out_u64(cycles_to_us(t1));
        out(NL);
    }
    out("m-infer-done" NL);
    print_results();
}

static void cmd_info(void)
{
    const runner_model_t *m = s_model;
    out("m-ofa-info-[board=");
    out_field(bsp_board_name());
    out(",core=");
    out_field(bsp_core_name());
    out(",counter=");
    out(bsp_counter_kind());
    out_kv("clock_hz", bsp_clock_hz(), 0);
    out_kv("emulated", (uint32_t)bsp_emulated(), 0);
    out(",model=");
    out_field(m->name);
    out(",runtime=");
    out_field(m->runtime);
    out_kv("input_bytes", m->input_bytes, 0);
    out_kv("output_bytes", m->output_bytes, 0);
    out_kv("arena_bytes", m->arena_bytes, 0);
    out_kv("max_layers", RUNNER_MAX_LAYERS, 0);
    out_kv("max_runs", RUNNER_MAX_RUNS, 0);
    out_kv("modes", s_mode_count, 0);
    out_kv("mode", s_mode, 0);
    out(RUNNER_DB_INPUT_XOR == 0x80u ? ",db_input=uint8" : ",db_input=int8");
    out_kv("version", 1u, 0);
    out("]" NL);
}

static void cmd_cycles(void)
{
    out("m-ofa-cycles-[");
    out_kv("runs", s_runs, 1);
    out_kv("warmup", s_warmup, 0);
    out(",sum=");
    out_u64(s_sum);
    out_kv("min", s_runs > 0u ? s_min : 0u, 0);
    out_kv("max", s_max, 0);
    out_kv("recorded", s_recorded, 0);
    out("]" NL "m-ofa-cycles-list-[");
    for (uint32_t i = 0; i < s_recorded; ++i) {
        if (i > 0u) {
            bsp_putc(',');
        }
        out_u32(s_run_cycles[i]);
    }
    out("]" NL);
}

static void cmd_layers(void)
{
    out("m-ofa-layers-[");
    out_kv("count", s_layer_count, 1);
    out_kv("dropped", s_layer_dropped, 0);
    out("]" NL);
    for (uint32_t i = 0; i < s_layer_count; ++i) {
        out("m-ofa-layer-[");
        out_u32(s_layers[i].index);
        bsp_putc(',');
        out_field(s_layers[i].kind);
        bsp_putc(',');
        out_u32(s_layers[i].cycles);
        if (s_layers[i].name != NULL) {
            bsp_putc(',');
            out_field(s_layers[i].name);
        }
        out("]" NL);
    }
}

static void cmd_mem(void)
{
    const runner_model_t *m = s_model;
    out("m-ofa-mem-[");
    out_kv("arena_used", m->arena_used != NULL ? m->arena_used() : m->arena_bytes, 1);
    out_kv("arena_bytes", m->arena_bytes, 0);
    out_kv("stack_used", bsp_stack_high_water(), 0);
    out_kv("stack_bytes", bsp_stack_size(), 0);
    out_kv("static_ram", bsp_static_ram(), 0);
    out("]" NL);
}

static void cmd_out(void)
{
    const runner_model_t *m = s_model;
    if (!s_have_output) {
        out("e-[No inference has run yet]" NL);
        return;
    }
    out("m-ofa-out-[");
    for (uint32_t i = 0; i < m->output_bytes; ++i) {
        if (i > 0u) {
            bsp_putc(',');
        }
        out_i32(m->output[i]);
    }
    out("]" NL);
}

static void print_mode(void)
{
    const runner_model_t *m = s_model;
    out("m-ofa-mode-[");
    out_kv("index", s_mode, 1);
    out_kv("count", s_mode_count, 0);
    out(",name=");
    out_field(s_mode_name != NULL ? s_mode_name : m->name);
    if (s_mode_shape != NULL) {
        out(",input_shape=");
        out_field(s_mode_shape);
    }
    out_kv("input_bytes", m->input_bytes, 0);
    out_kv("output_bytes", m->output_bytes, 0);
    out_kv("arena_bytes", m->arena_bytes, 0);
    out("]" NL);
}

/* ofa-mode [N]: report the selected mode, or switch to mode N first. */
static void cmd_mode(char **cursor)
{
    char *tok = next_token(cursor);
    if (tok != NULL) {
        int32_t n = parse_u31(tok);
        if (n < 0 || (uint32_t)n >= s_mode_count) {
            out("e-[Mode ");
            out_field(tok);
            out(" does not exist: the firmware has ");
            out_u32(s_mode_count);
            out(" mode(s), 0..");
            out_u32(s_mode_count - 1u);
            out("]" NL);
            return;
        }
        if (s_mode_switch != NULL) {
            int rc = s_mode_switch((uint32_t)n);
            if (rc != 0) {
                out("e-[Switching to mode ");
                out_u32((uint32_t)n);
                out(" failed with status ");
                out_i32(rc);
                out("]" NL);
                return;
            }
        }
        s_mode = (uint32_t)n;
        /* the new mode may take another input size: nothing loaded or computed carries over */
        s_loading = 0;
        s_load_size = 0;
        s_load_pos = 0;
        s_have_output = 0;
        s_runs = 0;
        s_recorded = 0;
        s_layer_count = 0;
        s_layer_dropped = 0;
    }
    print_mode();
}

/* Mode n of a multi-mode firmware: the application's switch, then the runner's view of it. */
static int mode_switch(uint32_t n)
{
    const runner_mode_t *mode = &s_modes->modes[n];
    int rc = s_modes->select != NULL ? s_modes->select(n) : 0;
    if (rc == 0) {
        s_model = mode->model;
        s_mode_name = mode->name;
        s_mode_shape = mode->input_shape;
    }
    return rc;
}

static void dispatch(char *line)
{
    char *cursor = line;
    char *cmd = next_token(&cursor);
    if (cmd == NULL) {
        /* empty command: just the ready prompt */
    } else if (streq(cmd, "name")) {
        out("m-name-dut-[");
        out_field(s_model->name);
        out("]" NL);
    } else if (streq(cmd, "profile")) {
        out("m-profile-[ULPMark for tinyML Firmware V0.0.1]" NL "m-model-[");
        out_field(s_model->name);
        out("]" NL);
    } else if (streq(cmd, "db")) {
        cmd_db(&cursor);
    } else if (streq(cmd, "infer")) {
        cmd_infer(&cursor);
    } else if (streq(cmd, "results")) {
        print_results();
    } else if (streq(cmd, "ofa-info")) {
        cmd_info();
    } else if (streq(cmd, "ofa-cycles")) {
        cmd_cycles();
    } else if (streq(cmd, "ofa-layers")) {
        cmd_layers();
    } else if (streq(cmd, "ofa-mem")) {
        cmd_mem();
    } else if (streq(cmd, "ofa-out")) {
        cmd_out();
    } else if (streq(cmd, "ofa-mode")) {
        cmd_mode(&cursor);
    } else {
        out("e-[Unknown command: ");
        out_field(cmd);
        out("]" NL);
    }
    out("m-ready" NL);
}

void runner_main_modes(const runner_modes_t *modes)
{
    s_modes = modes;
    s_mode = 0;
    s_mode_count = modes->count;
    s_mode_name = modes->modes[0].name;
    s_mode_shape = modes->modes[0].input_shape;
    s_mode_switch = mode_switch;
    runner_main(modes->modes[0].model);
}

void runner_main(const runner_model_t *model)
{
    bsp_init();
    s_model = model;
    s_last32 = bsp_cycles();
    out(bsp_energy_mode() ? "m-timestamp-mode-energy" NL : "m-timestamp-mode-performance" NL);
    out("m-init-done" NL "m-ready" NL);
    for (;;) {
        int c = bsp_getc();
        if (c == '%') {
            s_cmd[s_cmd_len] = '\0';
            if (s_cmd_overflow) {
                out("e-[Command too long: more than ");
                out_u32(RUNNER_CMD_BYTES);
                out(" characters]" NL "m-ready" NL);
            } else {
                dispatch(s_cmd);
            }
            s_cmd_len = 0;
            s_cmd_overflow = 0;
        } else if (c == '\r' || c == '\n') {
            /* line endings are not part of the protocol */
        } else if (s_cmd_len < RUNNER_CMD_BYTES) {
            s_cmd[s_cmd_len++] = (char)c;
        } else {
            s_cmd_overflow = 1;
        }
    }
}
