# Built by scripts/build-native.mjs (run by `npm run build`), which detects OpenBLAS and the CPU's
# x86-64 level and passes them in as the rt_* variables below. Two addons come out of one build:
#   ringtrain_native         cblas_sgemm for MatMul when rt_blas is 1, else the portable gemm
#   ringtrain_native_noblas  always the portable gemm (so CI tests the fallback on every run)
# The fused attention uses the portable tiled gemm in both (it matches OpenBLAS on 128-wide tiles).
{
  'variables': {
    'rt_blas%': 0,
    'rt_blas_include%': '',
    'rt_blas_libdir%': '',
    'rt_arch_flags%': '',
  },
  'target_defaults': {
    'sources': ['src/addon.cc', 'src/attention.cc', 'src/elementwise.cc', 'src/gemm.cc'],
    'cflags!': ['-O0', '-O2'],
    'cflags_cc!': ['-fno-exceptions'],
    'cflags_cc': ['-O3', '-fexceptions', '-Wno-ignored-attributes'],
    'conditions': [
      ['rt_arch_flags!=""', {'cflags_cc': ['<@(rt_arch_flags)']}],
    ],
  },
  'targets': [
    {
      'target_name': 'ringtrain_native',
      'conditions': [
        ['rt_blas==1', {
          'defines': ['RT_HAVE_OPENBLAS'],
          'include_dirs': ['<(rt_blas_include)'],
          'libraries': ['-L<(rt_blas_libdir)', '-Wl,-rpath,<(rt_blas_libdir)', '-lopenblas'],
        }],
      ],
    },
    {
      'target_name': 'ringtrain_native_noblas',
    },
  ],
}
