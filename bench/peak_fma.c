/* Measured peak FP32 rate of this machine: independent fused multiply-adds on
 * every vector register, on THREADS threads at once (the clock the cores
 * actually run at, boost included, instead of the nominal MHz in /proc/cpuinfo).
 * Used by bench/element.sh; built there with -mavx512f or -mavx2 -mfma.
 *   peak_fma THREADS   -> prints GFLOP/s */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef __AVX512F__
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#else
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#endif
#define CHAINS 12 /* more than latency x FMA units: the pipes never wait */
#define ITERS 20000000L

static volatile float sink;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *work(void *out) {
  vec a[CHAINS];
  vec b = SET1(0.9999999f), c = SET1(1e-7f);
  for (int i = 0; i < CHAINS; i++) a[i] = SET1((float)i);
  double t0 = now();
  for (long k = 0; k < ITERS; k++)
    for (int i = 0; i < CHAINS; i++) a[i] = FMA(a[i], b, c);
  double dt = now() - t0;
  float s = 0;
  for (int i = 0; i < CHAINS; i++) s += ((float *)&a[i])[0];
  sink = s;
  *(double *)out = (double)ITERS * CHAINS * LANES * 2 / dt / 1e9;
  return NULL;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  if (n < 1 || n > 256) n = 1;
  pthread_t th[256];
  double r[256], best = 0;
  for (int round = 0; round < 3; round++) {
    double sum = 0;
    for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, work, &r[i]);
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL), sum += r[i];
    if (sum > best) best = sum;
  }
  printf("%.1f\n", best);
  return 0;
}
