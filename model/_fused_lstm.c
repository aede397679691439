/* The fused engine's kernel: a stack of bidirectional LSTMs and a sigmoid output, over unpadded reviews.
 *
 * Why a kernel of our own (see model/fused.py): the first layer's input projection depends only on the
 * word, so it is read from a per-word table instead of computed, which onnxruntime's LSTM cannot do.
 *
 * Exact batch invariance: every number a review produces is computed by the same instructions in the
 * same order whatever its batch-mates. Reviews are stepped TILE at a time only so that one weight load
 * serves TILE reviews; each output element is still one chain of multiply-adds in a fixed order, a short
 * tile is filled with copies of one of its reviews, and a review that has ended is computed on but never
 * stored. The same holds for `occlude` (a review without each of its tokens in turn, for explanations): it
 * starts each variant's first layer from states of the review that are the variant's own, bitwise.
 * Threads are Python's: `score` and `occlude` release the GIL and work on the rows they are given.
 *
 * Weights come in ONNX gate order (i, o, f, c), with the candidate gate c scaled by 2 (exact in binary
 * floating point) so that one sigmoid serves all four gates: tanh(x) = 2 sigmoid(2x) - 1.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TILE 4         /* reviews stepped together */
#define LANES 16       /* floats per vector: one AVX-512 register, two AVX2 ones */
#define BLOCK 4        /* vectors of output columns kept in registers per tile row */
/* Tokens and vectors of columns per step of the input projections: 24 accumulators of AVX-512's 32 registers,
 * each weight load serving 8 tokens (measured: 10% more reviews per CPU-second than a tile's 4 x 4). */
#define PROJECT_ROWS 8
#define PROJECT_BLOCK 3
#define MAX_ROWS PROJECT_ROWS /* the most rows `affine` is given */
#define MAX_LAYERS 8

typedef float vec __attribute__((vector_size(LANES * sizeof(float))));
typedef int32_t ivec __attribute__((vector_size(LANES * sizeof(int32_t))));
typedef uint32_t uvec __attribute__((vector_size(LANES * sizeof(uint32_t))));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* One build runs on any x86-64 and uses AVX-512 or AVX2 where the CPU has it. */
#define HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HOT
#endif

static inline __attribute__((always_inline)) vec load(const float *p) { vec v; memcpy(&v, p, sizeof v); return v; }
static inline __attribute__((always_inline)) void store(float *p, vec v) { memcpy(p, &v, sizeof v); }

/* out[r][j0 + i] = base[r][j0 + i] + sum over q of a[r][q] * w[q][j0 + i], for `rows` rows and nv vectors of
 * columns. Every output element is the same chain of multiply-adds, in the order of q, whatever rows and nv. */
static inline __attribute__((always_inline)) void affine_block(
    int rows, int nv, const float *const a[], int k, const float *w, int n,
    const float *const base[], float *const out[], int j0)
{
    vec acc[MAX_ROWS][BLOCK];
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = load(base[r] + j0 + v * LANES);
    for (int q = 0; q < k; q++) {
        vec wv[BLOCK];
        for (int v = 0; v < nv; v++) wv[v] = load(w + (size_t)q * n + j0 + v * LANES);
        for (int r = 0; r < rows; r++) {
            const float s = a[r][q];
            for (int v = 0; v < nv; v++) acc[r][v] += s * wv[v];
        }
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < nv; v++) store(out[r] + j0 + v * LANES, acc[r][v]);
}

/* out[r] = base[r] + a[r] @ w for `rows` rows, `block` vectors of columns at a time (both constants where
 * inlined: the accumulators stay in registers); w is [k][n], n a multiple of LANES. out may be base. */
static inline __attribute__((always_inline)) void affine(int rows, int block, const float *const a[], int k,
                                                         const float *w, int n, const float *const base[],
                                                         float *const out[])
{
    int j = 0;
    for (; j + block * LANES <= n; j += block * LANES) affine_block(rows, block, a, k, w, n, base, out, j);
    switch ((n - j) / LANES) {
    case 3: affine_block(rows, 3, a, k, w, n, base, out, j); break;
    case 2: affine_block(rows, 2, a, k, w, n, base, out, j); break;
    case 1: affine_block(rows, 1, a, k, w, n, base, out, j); break;
    default: break;
    }
}

/* a where mask is set, else b: mask lanes are all ones or all zeros, as vector comparisons give. */
static inline __attribute__((always_inline)) vec pick(ivec mask, vec a, vec b)
{
    return (vec)(((ivec)a & mask) | ((ivec)b & ~mask));
}

/* 1 / (1 + e^-x) with e^-x from a Cephes polynomial, on whole vectors: no libm call and no branch.
 * Why whole vectors written out: GCC did not vectorize the cell's loop over the scalar form, and a
 * hidden size that is not a multiple of the vector (12, 24) left lanes to scalar code that cost more
 * than all the vector work of the step. */
static inline __attribute__((always_inline)) vec sigmoid(vec x)
{
    vec y = -x;
    y = pick(y < -87.0f, (vec){} - 87.0f, y);
    y = pick(y > 80.0f, (vec){} + 80.0f, y); /* sigmoid(-80) < 2e-35: 0 for any use */
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer kept in the low bits */
    vec t = y * 1.44269504f + magic;
    vec n = t - magic;
    vec r = y - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    vec p = (vec){} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const uvec exponent = ((uvec)t - (uvec)((vec){} + magic)) << 23;
    /* A division, not Newton's reciprocal: on whole vectors the sigmoids' dependency chains set the pace, and
     * one division is a shorter chain than three Newton steps (measured: 1.06x reviews per CPU-s). */
    return 1.0f / (1.0f + (vec)((uvec)p + exponent));
}

typedef struct {
    int hidden;          /* H */
    int inputs;          /* rows of proj: the vocabulary for the first layer, 2 H of the layer below otherwise */
    const float *proj;   /* [inputs][2][4H]: first layer: gate inputs per word, bias included; else W */
    const float *bias;   /* [2][4H]; NULL for the first layer (its table holds it) */
    const float *recur;  /* [2][H][4H] */
} Layer;

typedef struct {
    int layers;
    Layer layer[MAX_LAYERS];
    const float *dense;  /* [2 H_last] */
    float dense_bias;
    int widest;          /* largest 2 H and largest 2 * 4H over the layers */
    int widest_gates;
} Network;

/* One tile's working memory, sized for its longest review. */
typedef struct {
    float *seq[2];       /* [TILE][steps][widest]: a layer's input and output sequences */
    float *proj;         /* [TILE][steps][widest_gates]: input projections of one layer */
    float *gates[TILE];
    float *h[TILE], *c[TILE];
    float *zeros;
    float features[TILE][2 * 64];
} Scratch;

/* Where each row of a tile starts one direction of a layer. A review scored whole starts at step 0 from zero state;
 * an occlusion variant resumes at the step where it parts from its review, from the review's state there. */
typedef struct {
    int from[TILE];
    const float *h[TILE], *c[TILE];
} Start;

/* gates = input part + h @ R, then the LSTM cell, for the steps of each row from its start (`start`, or step 0 from
 * zero state when NULL) to its length. The input part of row r's token t is the first layer's table row of its
 * word, else in `in_proj`. Writes h per step to out_seq and c to out_cells (each when not NULL), the final h to
 * last_h (when not NULL). */
HOT static void recur_direction(const Network *net, int l, int dir, const int32_t *const ids[TILE], const int len[TILE],
                                const Start *start, int steps, const Scratch *s, const float *in_proj, float *out_seq,
                                float *out_cells, float last_h[TILE][2 * 64])
{
    const Layer *L = &net->layer[l];
    const int H = L->hidden, G = 4 * H;
    const float *recur = L->recur + (size_t)dir * H * G;
    const float *a[TILE], *base[TILE];
    float *out[TILE];
    int from[TILE], first_step = steps;
    const size_t state = sizeof(float) * ((H + LANES - 1) / LANES * LANES); /* the cell's whole vectors */
    for (int r = 0; r < TILE; r++) {
        memset(s->h[r], 0, state);
        memset(s->c[r], 0, state);
        from[r] = start ? start->from[r] : 0;
        if (start) {
            memcpy(s->h[r], start->h[r], sizeof(float) * H);
            memcpy(s->c[r], start->c[r], sizeof(float) * H);
        }
        if (from[r] < first_step) first_step = from[r];
        a[r] = s->h[r];
        out[r] = s->gates[r];
    }
    for (int step = first_step; step < steps; step++) {
        for (int r = 0; r < TILE; r++) {
            const int t = dir == 0 ? step : len[r] - 1 - step;
            if (step < from[r] || step >= len[r]) base[r] = s->zeros;
            else if (l == 0) base[r] = L->proj + (size_t)ids[r][t] * 2 * G + dir * G;
            else base[r] = in_proj + ((size_t)r * steps + t) * net->widest_gates + dir * G;
        }
        affine(TILE, BLOCK, a, H, recur, G, base, out);
        for (int r = 0; r < TILE; r++) {
            if (step < from[r] || step >= len[r]) continue;
            float *restrict g = s->gates[r], *restrict h = s->h[r], *restrict c = s->c[r];
            for (int j = 0; j < G; j += LANES) store(g + j, sigmoid(load(g + j)));
            for (int j = 0; j < H; j += LANES) { /* whole vectors: lanes past H are computed, never read */
                const vec cell = load(g + 2 * H + j) * load(c + j) + load(g + j) * (2.0f * load(g + 3 * H + j) - 1.0f);
                store(c + j, cell);
                store(h + j, load(g + H + j) * (2.0f * sigmoid(2.0f * cell) - 1.0f));
            }
            const size_t at = ((size_t)r * steps + (dir == 0 ? step : len[r] - 1 - step)) * net->widest + dir * H;
            if (out_seq) memcpy(out_seq + at, h, sizeof(float) * H);
            if (out_cells) memcpy(out_cells + at, c, sizeof(float) * H);
        }
    }
    if (last_h)
        for (int r = 0; r < TILE; r++) memcpy(last_h[r] + dir * H, s->h[r], sizeof(float) * H);
}

/* proj[r][t] = bias + seq[r][t] @ W for every real token of the tile, PROJECT_ROWS tokens at a time. */
HOT static void project_tile(const Network *net, int l, const int len[TILE], int steps, const Scratch *s,
                         const float *in_seq)
{
    const Layer *L = &net->layer[l];
    const float *a[PROJECT_ROWS], *base[PROJECT_ROWS];
    float *out[PROJECT_ROWS];
    int filled = 0;
    for (int r = 0; r < TILE; r++)
        for (int t = 0; t < len[r]; t++) {
            a[filled] = in_seq + ((size_t)r * steps + t) * net->widest;
            out[filled] = s->proj + ((size_t)r * steps + t) * net->widest_gates;
            base[filled] = L->bias;
            if (++filled == PROJECT_ROWS) {
                affine(PROJECT_ROWS, PROJECT_BLOCK, a, L->inputs, L->proj, 8 * L->hidden, base, out);
                filled = 0;
            }
        }
    if (filled) {
        for (int i = filled; i < PROJECT_ROWS; i++) a[i] = a[0], out[i] = out[0], base[i] = base[0];
        affine(PROJECT_ROWS, PROJECT_BLOCK, a, L->inputs, L->proj, 8 * L->hidden, base, out);
    }
}

/* p of a tile's rows. `start` (NULL: every row from step 0) gives per direction where each row's first layer starts;
 * the caller has then written the first layer's outputs before those starts into s->seq[0]. */
static void score_tile(const Network *net, const int32_t *const ids[TILE], const int len[TILE], const Start start[2],
                       int steps, Scratch *s, float p[TILE])
{
    const float *in_seq = NULL;
    for (int l = 0; l < net->layers; l++) {
        const int last = l == net->layers - 1;
        float *out_seq = last ? NULL : s->seq[l % 2];
        if (l > 0) project_tile(net, l, len, steps, s, in_seq);
        for (int dir = 0; dir < 2; dir++)
            recur_direction(net, l, dir, ids, len, l == 0 && start ? &start[dir] : NULL, steps, s, s->proj, out_seq,
                            NULL, last ? s->features : NULL);
        in_seq = out_seq;
    }
    const int width = 2 * net->layer[net->layers - 1].hidden;
    for (int r = 0; r < TILE; r++) {
        float logit = net->dense_bias;
        for (int j = 0; j < width; j++) logit += s->features[r][j] * net->dense[j];
        p[r] = sigmoid((vec){} + logit)[0];
    }
}

static int scratch_alloc(Scratch *s, const Network *net, int steps)
{
    size_t seq = (size_t)TILE * (steps ? steps : 1) * net->widest, proj = (size_t)TILE * (steps ? steps : 1) * net->widest_gates;
    size_t G = (size_t)net->widest_gates, total = 2 * seq + proj + TILE * (G + G) + G;
    float *mem = malloc(total * sizeof(float)); /* not calloc: zeroing megabytes per call showed in profiles */
    if (!mem) return -1;
    s->seq[0] = mem, s->seq[1] = mem + seq, s->proj = mem + 2 * seq;
    float *rest = s->proj + proj;
    for (int r = 0; r < TILE; r++) {
        s->gates[r] = rest, rest += G;
        s->h[r] = rest, rest += G / 2;
        s->c[r] = rest, rest += G / 2;
    }
    s->zeros = rest;
    memset(s->gates[0], 0, (TILE * (G + G) + G) * sizeof(float)); /* the cell reads gate lanes past 4 H: finite */
    return 0;
}

/* Score rows[0..n) of the batch, TILE at a time, writing p[rows[i]]. */
static int score_rows(const Network *net, const int32_t *ids, const int64_t *offsets, const int32_t *rows,
                          Py_ssize_t n, float *p)
{
    int steps = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int len = (int)(offsets[rows[i] + 1] - offsets[rows[i]]);
        if (len > steps) steps = len;
    }
    Scratch s;
    if (scratch_alloc(&s, net, steps)) return -1;
    for (Py_ssize_t i = 0; i < n; i += TILE) {
        const int32_t *tile_ids[TILE];
        int len[TILE], tile_steps = 0;
        int32_t row[TILE];
        for (int r = 0; r < TILE; r++) {
            row[r] = rows[i + r < n ? i + r : i]; /* a short tile repeats its first review */
            tile_ids[r] = ids + offsets[row[r]];
            len[r] = (int)(offsets[row[r] + 1] - offsets[row[r]]);
            if (len[r] > tile_steps) tile_steps = len[r];
        }
        float tile_p[TILE];
        score_tile(net, tile_ids, len, NULL, tile_steps, &s, tile_p);
        for (int r = 0; r < TILE; r++) p[row[r]] = tile_p[r];
    }
    free(s.seq[0]);
    return 0;
}

/* Sequences first..end-1 of one review's occlusion: 0 is the review, i + 1 the review without its token i; p of
 * sequence k into out[k]. rec_h and rec_c hold the review's first layer, h and c per token (stride net->widest,
 * forward then backward), as recur_direction wrote them; vids has room for TILE sequences of `len` ids. */
static void occlude_review(const Network *net, Scratch *s, const int32_t *ids, int len, const float *rec_h,
                           const float *rec_c, int first, int end, int32_t *vids, float *out)
{
    const int H = net->layer[0].hidden, W = net->widest;
    for (int k0 = first; k0 < end; k0 += TILE) {
        const int32_t *tile_ids[TILE];
        int lens[TILE], steps = 0;
        Start start[2];
        for (int r = 0; r < TILE; r++) {
            const int k = k0 + r < end ? k0 + r : k0; /* a short tile repeats its first sequence */
            if (k == 0) { /* the review itself: its whole first layer is recorded */
                tile_ids[r] = ids, lens[r] = len;
                start[0].from[r] = start[1].from[r] = len;
                start[0].h[r] = rec_h + (size_t)(len - 1) * W, start[0].c[r] = rec_c + (size_t)(len - 1) * W;
                start[1].h[r] = rec_h + H, start[1].c[r] = rec_c + H;
            } else { /* without token i: forward resumes after token i - 1, backward after token i + 1 */
                const int i = k - 1;
                int32_t *v = vids + (size_t)r * len;
                memcpy(v, ids, sizeof(int32_t) * i);
                memcpy(v + i, ids + i + 1, sizeof(int32_t) * (len - 1 - i));
                tile_ids[r] = v, lens[r] = len - 1;
                start[0].from[r] = i, start[1].from[r] = len - 1 - i;
                start[0].h[r] = i > 0 ? rec_h + (size_t)(i - 1) * W : s->zeros;
                start[0].c[r] = i > 0 ? rec_c + (size_t)(i - 1) * W : s->zeros;
                start[1].h[r] = i < len - 1 ? rec_h + (size_t)(i + 1) * W + H : s->zeros;
                start[1].c[r] = i < len - 1 ? rec_c + (size_t)(i + 1) * W + H : s->zeros;
            }
            if (lens[r] > steps) steps = lens[r];
        }
        /* the first layer's outputs before each start: the review's own, one token later past the removed one */
        for (int r = 0; r < TILE; r++) {
            float *seq = s->seq[0] + (size_t)r * steps * W;
            for (int t = 0; t < start[0].from[r]; t++) memcpy(seq + (size_t)t * W, rec_h + (size_t)t * W, sizeof(float) * H);
            const int skip = lens[r] < len; /* a variant's token t >= i is the review's t + 1 */
            for (int t = lens[r] - start[1].from[r]; t < lens[r]; t++)
                memcpy(seq + (size_t)t * W + H, rec_h + (size_t)(t + skip) * W + H, sizeof(float) * H);
        }
        float p[TILE];
        score_tile(net, tile_ids, lens, start, steps, s, p);
        for (int r = 0; r < TILE && k0 + r < end; r++) out[k0 + r] = p[r];
    }
}

/* Occlusion of jobs[0..n): a job (row, first, end) scores sequences first..end-1 of row's occlusion (0: the review,
 * i + 1: without its token i) into out[offsets[row] + row + k].
 * Why not score the variants as reviews: a variant parts from its review at the token it leaves out, so the first
 * layer's forward states before that token and its backward states after it are the review's own, bitwise (the
 * same instructions on the same numbers). They are computed once per job, TILE jobs together, and each variant's
 * first layer resumes from them: half of that layer's work saved. The layers above are computed in full. */
static int occlude_jobs(const Network *net, const int32_t *ids, const int64_t *offsets, const int32_t *jobs,
                        Py_ssize_t n, float *out)
{
    int steps = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        int len = (int)(offsets[jobs[3 * i] + 1] - offsets[jobs[3 * i]]);
        if (len > steps) steps = len;
    }
    Scratch s;
    if (scratch_alloc(&s, net, steps)) return -1;
    const size_t record = (size_t)TILE * steps * net->widest;
    float *rec = malloc(2 * record * sizeof(float));
    int32_t *vids = malloc((size_t)TILE * steps * sizeof(int32_t));
    if (!rec || !vids) {
        free(rec), free(vids), free(s.seq[0]);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i += TILE) {
        const int32_t *tile_ids[TILE];
        int len[TILE], tile_steps = 0;
        for (int r = 0; r < TILE; r++) {
            const int32_t row = jobs[3 * (i + r < n ? i + r : i)]; /* a short tile repeats its first job */
            tile_ids[r] = ids + offsets[row];
            len[r] = (int)(offsets[row + 1] - offsets[row]);
            if (len[r] > tile_steps) tile_steps = len[r];
        }
        for (int dir = 0; dir < 2; dir++)
            recur_direction(net, 0, dir, tile_ids, len, NULL, tile_steps, &s, NULL, rec, rec + record, NULL);
        for (int r = 0; r < TILE && i + r < n; r++) {
            const int32_t *job = jobs + 3 * (i + r);
            const size_t at = (size_t)r * tile_steps * net->widest;
            occlude_review(net, &s, tile_ids[r], len[r], rec + at, rec + record + at, job[1], job[2], vids,
                           out + offsets[job[0]] + job[0]);
        }
    }
    free(rec), free(vids), free(s.seq[0]);
    return 0;
}

/* out[i] = bias + x[i] @ w, with the kernel the LSTMs use (so the first layer's table is computed as they would). */
HOT static void affine_rows(const float *x, Py_ssize_t rows, int k, const float *w, int n, const float *bias, float *out)
{
    for (Py_ssize_t i = 0; i < rows; i += TILE) {
        const float *a[TILE], *base[TILE];
        float *o[TILE];
        for (int r = 0; r < TILE; r++) {
            Py_ssize_t row = i + r < rows ? i + r : i;
            a[r] = x + row * k, base[r] = bias, o[r] = out + row * n;
        }
        affine(TILE, BLOCK, a, k, w, n, base, o);
    }
}

/* ---- Python binding ---------------------------------------------------------------------------------- */

typedef struct {
    Py_buffer views[4 * MAX_LAYERS + 1];
    int count;
} Views;

static void release(Views *v)
{
    for (int i = 0; i < v->count; i++) PyBuffer_Release(&v->views[i]);
    v->count = 0;
}

/* A C-contiguous float32 view of obj with exactly `expected` items (or any count when expected < 0). */
static const float *floats(Views *v, PyObject *obj, Py_ssize_t expected, const char *what)
{
    Py_buffer *b = &v->views[v->count];
    if (PyObject_GetBuffer(obj, b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    v->count++;
    if (b->itemsize != 4 || !b->format || strcmp(b->format, "f") != 0) {
        PyErr_Format(PyExc_TypeError, "%s must be float32", what);
        return NULL;
    }
    if (expected >= 0 && b->len / 4 != expected) {
        PyErr_Format(PyExc_ValueError, "%s has %zd floats, expected %zd", what, b->len / 4, expected);
        return NULL;
    }
    return b->buf;
}

/* layers: ((hidden, proj, bias or None, recur), ...); dense: (weights, bias). */
static int parse_network(PyObject *layers, PyObject *dense, Network *net, Views *v)
{
    if (!PyTuple_Check(layers) || PyTuple_GET_SIZE(layers) < 1 || PyTuple_GET_SIZE(layers) > MAX_LAYERS) {
        PyErr_SetString(PyExc_ValueError, "layers must be a tuple of 1 to 8 layers");
        return -1;
    }
    net->layers = (int)PyTuple_GET_SIZE(layers);
    net->widest = net->widest_gates = 0;
    int below = 0;
    for (int l = 0; l < net->layers; l++) {
        Layer *L = &net->layer[l];
        PyObject *hidden, *proj, *bias, *recur;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(layers, l), "OOOO", &hidden, &proj, &bias, &recur)) return -1;
        L->hidden = (int)PyLong_AsLong(hidden);
        if (PyErr_Occurred()) return -1;
        if (L->hidden < 1 || L->hidden > 64 || L->hidden % 4) {
            PyErr_SetString(PyExc_ValueError, "hidden sizes must be multiples of 4 up to 64");
            return -1;
        }
        const int G = 4 * L->hidden;
        if (!(L->proj = floats(v, proj, -1, "proj"))) return -1;
        L->inputs = (int)(v->views[v->count - 1].len / 4 / (2 * G));
        if (l > 0 && L->inputs != below) {
            PyErr_Format(PyExc_ValueError, "layer %d takes %d inputs, the layer below gives %d", l, L->inputs, below);
            return -1;
        }
        if (l == 0 && bias != Py_None) {
            PyErr_SetString(PyExc_ValueError, "the first layer's bias belongs in its table");
            return -1;
        }
        L->bias = l == 0 ? NULL : floats(v, bias, 2 * G, "bias");
        if (l > 0 && !L->bias) return -1;
        if (!(L->recur = floats(v, recur, (Py_ssize_t)2 * L->hidden * G, "recur"))) return -1;
        below = 2 * L->hidden;
        if (2 * L->hidden > net->widest) net->widest = 2 * L->hidden;
        if (2 * G > net->widest_gates) net->widest_gates = 2 * G;
    }
    PyObject *weights;
    if (!PyArg_ParseTuple(dense, "Of", &weights, &net->dense_bias)) return -1;
    return (net->dense = floats(v, weights, below, "dense")) ? 0 : -1;
}

/* The checks a job of occlude must pass: its row in the batch, a review of at least one token, a range of its
 * sequences. NULL when it passes, else the message. */
static const char *bad_job(const int32_t *job, Py_ssize_t batch, const int64_t *off)
{
    if (job[0] < 0 || job[0] >= batch) return "job row out of range";
    const int64_t len = off[job[0] + 1] - off[job[0]];
    if (len < 1) return "an empty review has no token to leave out";
    if (job[1] < 0 || job[1] > job[2] || job[2] > len + 1) return "a job's sequences must lie in 0..len(review)";
    return NULL;
}

/* score (occlusion 0) and occlude (1): the same arguments, checked at this edge; the work runs without the GIL. */
static PyObject *run(PyObject *args, int occlusion)
{
    PyObject *layers, *dense;
    Py_buffer ids, offsets, rows, out;
    if (!PyArg_ParseTuple(args, "OOy*y*y*w*", &layers, &dense, &ids, &offsets, &rows, &out)) return NULL;
    Views v = {.count = 0};
    Network net;
    PyObject *result = NULL;
    const Py_ssize_t n_ids = ids.len / 4, batch = offsets.len / 8 - 1;
    const Py_ssize_t n_rows = rows.len / 4 / (occlusion ? 3 : 1);
    const int32_t *id = ids.buf, *row = rows.buf;
    const int64_t *off = offsets.buf;
    if (parse_network(layers, dense, &net, &v) < 0) goto done;
    if (batch < 0 || out.len / 4 != (occlusion ? n_ids + batch : batch)) {
        PyErr_SetString(PyExc_ValueError, occlusion ? "out must have len(ids) + len(offsets) - 1 entries"
                                                    : "offsets must have one more entry than out");
        goto done;
    }
    for (Py_ssize_t i = 0; i < batch; i++)
        if (off[i] < 0 || off[i] > off[i + 1] || off[i + 1] > n_ids) {
            PyErr_SetString(PyExc_ValueError, "offsets must rise from 0 to len(ids)");
            goto done;
        }
    for (Py_ssize_t i = 0; i < n_rows; i++) {
        const char *bad = occlusion ? bad_job(row + 3 * i, batch, off) : row[i] < 0 || row[i] >= batch ? "row out of range" : NULL;
        if (bad) {
            PyErr_SetString(PyExc_IndexError, bad);
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < n_ids; i++)
        if (id[i] < 0 || id[i] >= net.layer[0].inputs) {
            PyErr_Format(PyExc_IndexError, "token id %d is outside the vocabulary of %d", id[i], net.layer[0].inputs);
            goto done;
        }
    int failed;
    Py_BEGIN_ALLOW_THREADS
    failed = occlusion ? occlude_jobs(&net, id, off, row, n_rows, out.buf) : score_rows(&net, id, off, row, n_rows, out.buf);
    Py_END_ALLOW_THREADS
    if (failed) PyErr_NoMemory();
    else result = Py_NewRef(Py_None);
done:
    release(&v);
    PyBuffer_Release(&ids), PyBuffer_Release(&offsets), PyBuffer_Release(&rows), PyBuffer_Release(&out);
    return result;
}

static PyObject *py_score(PyObject *Py_UNUSED(self), PyObject *args) { return run(args, 0); }

static PyObject *py_occlude(PyObject *Py_UNUSED(self), PyObject *args) { return run(args, 1); }

static PyObject *py_affine(PyObject *Py_UNUSED(self), PyObject *args)
{
    PyObject *x, *w, *bias, *out;
    int k, n;
    if (!PyArg_ParseTuple(args, "OOOOii", &x, &w, &bias, &out, &k, &n)) return NULL;
    if (k < 1 || n < LANES || n % LANES) return PyErr_Format(PyExc_ValueError, "n must be a multiple of %d", LANES);
    Views v = {.count = 0};
    const float *xs = floats(&v, x, -1, "x"), *ws = xs ? floats(&v, w, (Py_ssize_t)k * n, "w") : NULL;
    const float *bs = ws ? floats(&v, bias, n, "bias") : NULL;
    Py_ssize_t rows = xs ? v.views[0].len / 4 / k : 0;
    float *os = bs ? (float *)floats(&v, out, rows * n, "out") : NULL;
    if (os && v.views[0].len / 4 != rows * k) {
        PyErr_SetString(PyExc_ValueError, "x is not a whole number of rows");
        os = NULL;
    }
    if (os && v.views[3].readonly) {
        PyErr_SetString(PyExc_ValueError, "out is read-only");
        os = NULL;
    }
    if (os) {
        Py_BEGIN_ALLOW_THREADS
        affine_rows(xs, rows, k, ws, n, bs, os);
        Py_END_ALLOW_THREADS
    }
    release(&v);
    return os ? Py_NewRef(Py_None) : NULL;
}

static PyMethodDef methods[] = {
    {"score", py_score, METH_VARARGS,
     "score(layers, dense, ids, offsets, rows, out): p_negative of each listed row into out (GIL released)."},
    {"occlude", py_occlude, METH_VARARGS,
     "occlude(layers, dense, ids, offsets, jobs, out): for each job (row, first, end) of int32 jobs [n][3], p of\n"
     "sequences first..end-1 of the row's occlusion (0: the review, i + 1: the review without its token i) into\n"
     "out[offsets[row] + row + k]; out has len(ids) + len(offsets) - 1 entries (GIL released)."},
    {"affine", py_affine, METH_VARARGS,
     "affine(x, w, bias, out, k, n): out = x @ w + bias for float32 x [rows, k], w [k, n], with the LSTMs' kernel."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fused_lstm", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fused_lstm(void) { return PyModule_Create(&module); }
