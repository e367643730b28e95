// PolyKernels: the few numeric kernels BLAS does not provide.
// Conventions (llm.c style): outputs first, then inputs, then dimensions.
// Matrices are row-major; "w" of shape [R, C] is used as x · wᵀ.
#ifndef POLYKERNELS_H
#define POLYKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- dtype conversion (convert.c) -----------------------------------------------------
void pk_bf16_to_f32(float *out, const uint16_t *in, size_t n);
void pk_f16_to_f32(float *out, const uint16_t *in, size_t n);
/// Round to nearest even, NaN stays NaN (as torch's .to(torch.bfloat16)).
void pk_f32_to_bf16(uint16_t *out, const float *in, size_t n);
void pk_f32_to_f16(uint16_t *out, const float *in, size_t n);

// ---- matrix products with low-precision weights (matmul.c, gemm_bf16dot.c) ------------
/// out[T, rows] = x[T, C] · w[rows, C]ᵀ with bf16 (f16) weights and f32 math; ldo is the
/// row stride of out. Each weight row is read once and used for all T tokens (T small:
/// decode); a slice of rows of a bigger matrix is w offset by row0 · C.
void pk_matmul_bf16(float *out, size_t ldo, const float *x, const uint16_t *w,
                    size_t T, size_t rows, size_t C);
void pk_matmul_f16(float *out, size_t ldo, const float *x, const uint16_t *w,
                   size_t T, size_t rows, size_t C);
/// The kernel families: portable C, AVX2 + FMA + F16C intrinsics, AVX-512 intrinsics.
enum { PK_ISA_PORTABLE = 0, PK_ISA_AVX2 = 2, PK_ISA_AVX512 = 3 };
/// The best family this CPU runs (pk_matmul_bf16 / pk_matmul_f16 use it).
int pk_isa_best(void);
/// The same products on a chosen family; one the CPU lacks is lowered to the best it has.
void pk_matmul_bf16_isa(int isa, float *out, size_t ldo, const float *x, const uint16_t *w,
                        size_t T, size_t rows, size_t C);
void pk_matmul_f16_isa(int isa, float *out, size_t ldo, const float *x, const uint16_t *w,
                       size_t T, size_t rows, size_t C);
/// The same products shared by threads: each thread calls with the same `next` (zero
/// before the first call) and takes rows from it until none are left — a quarter of those
/// left at a time, at least `chunk` — so a thread that runs slower (another process on its
/// core) takes fewer rows instead of holding up the others. With chunk a multiple of 4 (the portable
/// kernel's row tiles) each row's result is the same as from _isa.
void pk_matmul_bf16_claim(int isa, float *out, size_t ldo, const float *x, const uint16_t *w,
                          size_t T, size_t rows, size_t C, size_t chunk, size_t *next);
void pk_matmul_f16_claim(int isa, float *out, size_t ldo, const float *x, const uint16_t *w,
                         size_t T, size_t rows, size_t C, size_t chunk, size_t *next);
/// The portable C kernels (matmul.c), the reference of the others.
void pk_matmul_bf16_portable(float *out, size_t ldo, const float *x, const uint16_t *w,
                             size_t T, size_t rows, size_t C);
void pk_matmul_f16_portable(float *out, size_t ldo, const float *x, const uint16_t *w,
                            size_t T, size_t rows, size_t C);

// ---- int8 weights, q8 (matmul_q8.c) ---------------------------------------------------
/// q8: each row of w[rows, C] in blocks of PK_Q8_BLOCK columns (the last may be shorter),
/// int8 values in [-127, 127] q[rows, C] and one f16 scale per block scales[rows, ⌈C/32⌉]:
/// w ≈ scale · q.
enum { PK_Q8_BLOCK = 32 };
void pk_quantize_q8(int8_t *q, uint16_t *scales, const float *x, size_t rows, size_t C);
void pk_dequantize_q8(float *out, const int8_t *q, const uint16_t *scales, size_t rows, size_t C);
/// sums[rows, ⌈C/32⌉]: each block's Σ q (|Σ| ≤ 32 · 127), which the token-lane VNNI kernel
/// for batches of 4 or more tokens starts its sums from; computed once per matrix.
void pk_q8_block_sums(int16_t *sums, const int8_t *q, size_t rows, size_t C);
/// The family pk_matmul_q8_isa runs for a requested one: AVX512 needs VNNI (else AVX2).
int pk_q8_isa(int isa);
/// out[T, rows] (row stride ldo) = x · wᵀ with x quantised per block of 32 (f32 scales)
/// and integer dot products per block: VNNI, AVX2, or portable C (the reference). With
/// `sums` (pk_q8_block_sums; may be NULL), VNNI runs batches of 4 or more tokens on columns
/// that are whole blocks with the tokens in vector lanes (matmul_q8_lanes.c).
/// Returns 0, or -1 with out untouched when the activations' buffer cannot be allocated.
int pk_matmul_q8_isa(int isa, float *out, size_t ldo, const float *x, const int8_t *q,
                     const uint16_t *scales, const int16_t *sums, size_t T, size_t rows, size_t C);
/// The same shared by threads, rows taken from `next` as by pk_matmul_bf16_claim. A thread that cannot allocate its quantised activations returns
/// -1 having taken no rows; rows left in `next` afterwards are the caller's to compute.
int pk_matmul_q8_claim(int isa, float *out, size_t ldo, const float *x, const int8_t *q, const uint16_t *scales,
                       const int16_t *sums, size_t T, size_t rows, size_t C, size_t chunk, size_t *next);

/// Prefill (gemm_bf16.c): out[T, rows] = x[T, K] · w[rows, K]ᵀ with bf16 weights and f32
/// math, a blocked, packed GEMM that widens the weights in registers (no f32 copy of w).
/// Runs the chosen family (lowered to the best the CPU has). Returns 0, or -1 with out
/// untouched when its packing buffers cannot be allocated.
int pk_gemm_bf16_isa(int isa, float *out, size_t ldo, const float *x, const uint16_t *w,
                     size_t T, size_t rows, size_t K);

/// Prefill on q8 weights (gemm_q8.c): out[T, rows] = x[T, K] · wᵀ, w the dequantised q8
/// matrix (values q[rows, K], scales[rows, ⌈K/32⌉]), activations and math f32: the blocked
/// GEMM of pk_gemm_bf16_isa, the packing dequantising the weights. Same families and returns.
int pk_gemm_q8_isa(int isa, float *out, size_t ldo, const float *x, const int8_t *q, const uint16_t *scales,
                   size_t T, size_t rows, size_t K);

/// 1 when the CPU has AVX512-BF16 dot products.
int pk_has_bf16dot(void);
/// out[T, rows] (row stride ldo) = xb · wᵀ with bf16 inputs and f32 accumulation (vdpbf16ps);
/// xb is the activations rounded to bf16, [T, K] with row stride ldx ≥ K; any K. Returns 0, or
/// -1 with out untouched when the CPU lacks AVX512-BF16 (pk_has_bf16dot).
int pk_gemm_bf16dot(float *out, size_t ldo, const uint16_t *xb, size_t ldx, const uint16_t *w,
                    size_t T, size_t rows, size_t K);

// ---- normalisation (norm.c; their training forms and backwards below) ----------------
/// out[r] = x[r] * rsqrt(mean(x[r]^2) + eps) * weight   (weight may be NULL: no scale)
void pk_rmsnorm(float *out, const float *x, const float *weight,
                size_t rows, size_t n, float eps);
/// PolyNorm over the last dim: w0·norm(x³) + w1·norm(x²) + w2·norm(x) + b.
void pk_polynorm(float *out, const float *x, size_t rows, size_t n,
                 float w0, float w1, float w2, float b, float eps);

// ---- activations (activations.c), in place or out != x --------------------------------
/// PolyReLU: w0·relu(x)³ + w1·relu(x)² + w2·relu(x) + b.
void pk_polyrelu(float *out, const float *x, size_t n,
                 float w0, float w1, float w2, float b);
void pk_relu(float *out, const float *x, size_t n);
/// Exact (erf) GELU, as torch's nn.GELU() / HF "gelu".
void pk_gelu(float *out, const float *x, size_t n);
/// Tanh-approximated GELU (HF "gelu_new", "gelu_pytorch_tanh").
void pk_gelu_tanh(float *out, const float *x, size_t n);
void pk_silu(float *out, const float *x, size_t n);
/// The activation of a gated MLP; closed, so Swift sees a plain enum.
typedef enum __attribute__((enum_extensibility(closed))) {
    PK_GATE_SILU, PK_GATE_GELU, PK_GATE_RELU, PK_GATE_GELU_TANH
} pk_gate_activation;
/// out = act(gate) * up  (gated MLP)
void pk_gated(float *out, const float *gate, const float *up, size_t n, pk_gate_activation act);

// ---- softmax (softmax.c): one kernel for the router and both attention paths ----------
/// Softmax of each row of x[rows, n], in place.
void pk_softmax(float *x, size_t rows, size_t n);
/// Softmax of each row over its first `valid[r]` entries; entries past it become 0.
void pk_softmax_causal(float *x, size_t ld, const size_t *valid, size_t rows);
/// log-softmax of one row, in place. Uses a max-shifted, double sum.
void pk_log_softmax(float *x, size_t n);
/// What pk_log_softmax would leave at `token` and at the row's first maximum (`best`),
/// bit for bit, without writing the row (scoring reads nothing else of it).
void pk_log_softmax_top1(const float *x, size_t n, size_t token, float *token_logprob,
                         size_t *best, float *best_logprob);

// ---- attention pieces (attention.c) ---------------------------------------------------
/// HF rotate_half RoPE in place on x[T, heads, hd] (row stride ldx floats).
/// cos/sin are [T, hd/2].
void pk_rope(float *x, size_t ldx, const float *cos, const float *sin,
             size_t T, size_t heads, size_t hd);
/// One query against L cached keys/values of one head (decode): out[hd] =
/// softmax(q · kᵀ · scale) · v, with k and v rows `ld` floats apart; scores needs L floats.
void pk_attend_one(float *out, const float *q, const float *k, const float *v, size_t ld,
                   size_t L, size_t hd, float scale, float *scores);
/// The same on a kernel family (PK_ISA_*; AVX-512, else the portable C).
void pk_attend_one_isa(int isa, float *out, const float *q, const float *k, const float *v, size_t ld,
                       size_t L, size_t hd, float scale, float *scores);
/// The same over keys and values held in two runs: L0 positions at k0 / v0 (a prefix shared
/// with another sequence's cache; none when k0 is NULL), then L at k / v; scores needs L0 + L floats.
void pk_attend_runs_isa(int isa, float *out, const float *q, const float *k0, const float *v0, size_t L0,
                        const float *k, const float *v, size_t L, size_t ld, size_t hd, float scale, float *scores);

// ---- prefill attention's products (attention_gemm.c): AVX-512, else -1 (keep OpenBLAS) ---
/// s[rows, keys] (row stride lds) = scale · q[rows, hd] · k[keys, hd]ᵀ, q and k rows ldq / ldk apart.
int pk_attn_scores(float *s, size_t lds, const float *q, size_t ldq, const float *k, size_t ldk,
                   size_t rows, size_t keys, size_t hd, float scale);
/// out[rows, hd] (row stride ldo) = p[rows, keys] · v[keys, hd], p and v rows ldp / ldv apart;
/// with `accumulate`, added to what out holds (keys in two runs: a shared prefix, then its own).
int pk_attn_context(float *out, size_t ldo, const float *p, size_t ldp, const float *v, size_t ldv,
                    size_t rows, size_t keys, size_t hd, int accumulate);

// ---- CPU (cpu.c) ----------------------------------------------------------------------
/// The widest x86 vector extensions this CPU has: 0 none of these, 1 AVX, 2 AVX2 + FMA,
/// 3 AVX-512 (F, BW, DQ, VL), 4 AVX-512 with BF16 dot products.
int pk_cpu_vector_level(void);

// ---- the machine's limits (probe.c), for the bench ------------------------------------
/// Reads `bytes` of buf (64-byte aligned) with the widest loads the CPU has; the result
/// only keeps the reads from being optimised away.
uint64_t pk_probe_read(const void *buf, size_t bytes);
/// Seconds for `threads` threads (this one and threads − 1 new ones) to read disjoint
/// shares of buf, each `passes` times, all started at one barrier: from the first start to
/// the last finish. -1 when a thread cannot be created.
double pk_probe_read_parallel(const void *buf, size_t bytes, int threads, int passes);
/// `steps` rounds of 12 independent FMA vectors; returns the flops done (result in sink).
double pk_probe_fma(size_t steps, float *sink);

// ---- small helpers (elementwise.c) ----------------------------------------------------
void pk_add(float *out, const float *a, const float *b, size_t n);
void pk_scale_add(float *out, const float *x, float scale, size_t n); // out += scale*x

// ---- training: forward variants that keep what backward needs, and backwards -------
// Parameter gradients are accumulated (+=); input gradients as documented per kernel.
/// Targets equal to this are ignored by the cross-entropy (PyTorch's ignore_index).
enum { PK_IGNORE_INDEX = -100 };

/// pk_rmsnorm saving rstd[rows] = 1/sqrt(mean(x²) + eps) (rstd may be NULL: not saved).
void pk_rmsnorm_forward(float *out, float *rstd, const float *x, const float *weight,
                        size_t rows, size_t n, float eps);
/// dx += ∂/∂x, dweight += ∂/∂w (dweight may be NULL: frozen).
void pk_rmsnorm_backward(float *dx, float *dweight, const float *dout, const float *x,
                         const float *weight, const float *rstd, size_t rows, size_t n);
/// pk_polynorm saving inv[rows, 3]: the inverse norms of x, x², x³ (inv may be NULL).
void pk_polynorm_forward(float *out, float *inv, const float *x, size_t rows, size_t n,
                         float w0, float w1, float w2, float b, float eps);
/// dx = ∂/∂x (overwritten); dcoef[4] += (dw0, dw1, dw2, db).
void pk_polynorm_backward(float *dx, float *dcoef, const float *dout, const float *x,
                          const float *inv, size_t rows, size_t n, float w0, float w1, float w2);
/// dx = ∂/∂x (overwritten); dcoef[4] += (dw0, dw1, dw2, db).
void pk_polyrelu_backward(float *dx, float *dcoef, const float *dout, const float *x, size_t n,
                          float w0, float w1, float w2);
/// dx = dout · act'(x) for the plain MLP's fixed activations.
void pk_activation_backward(float *dx, const float *dout, const float *x, size_t n, pk_gate_activation act);
/// Backward of out = act(gate) · up: dgate, dup overwritten.
void pk_gated_backward(float *dgate, float *dup, const float *dout, const float *gate,
                       const float *up, size_t n, pk_gate_activation act);
/// Backward of pk_rope, in place on dx[T, heads, hd] (row stride ldx).
void pk_rope_backward(float *dx, size_t ldx, const float *cos, const float *sin,
                      size_t T, size_t heads, size_t hd);
/// Backward of a causal softmax (row r has r + 1 entries) of `scale`·scores:
/// dscores = scale · P ⊙ (dP − rowsum(P ⊙ dP)); entries past the diagonal 0.
void pk_softmax_causal_backward(float *dscores, const float *probs, const float *dprobs,
                                size_t ld, size_t rows, float scale);
/// Summed cross-entropy of the rows whose target is not PK_IGNORE_INDEX; per-row losses
/// (0 when ignored) into `losses` unless NULL.
double pk_cross_entropy_forward(float *losses, const float *logits, const int32_t *targets,
                                size_t rows, size_t V);
/// dlogits = scale · (softmax − onehot) (0 rows where ignored; may alias logits);
/// returns the summed loss as pk_cross_entropy_forward.
double pk_cross_entropy_backward(float *dlogits, const float *logits, const int32_t *targets,
                                 size_t rows, size_t V, float scale);

#ifdef __cplusplus
}
#endif

// ---- a pool of worker threads that spin briefly between runs (pool.c) -----------------
typedef struct pk_pool pk_pool;
/// `workers` threads besides the caller; NULL when out of memory (fewer threads start if
/// the system refuses some: pk_pool_workers says how many).
pk_pool *pk_pool_create(int workers);
int pk_pool_workers(const pk_pool *pool);
void pk_pool_destroy(pk_pool *pool);
/// fn(ctx, part) for every part in 0 ..< parts, on the caller and the workers; returns when
/// all are done. A run asked for during another (from a part, or another thread) runs all its
/// parts on its caller.
void pk_pool_run(pk_pool *pool, int parts, void (*fn)(void *ctx, int part), void *ctx);
/// The value of *counter before adding 1, atomically: items handed out one at a time to
/// whichever thread asks next.
long pk_claim_next(long *counter);
#endif
