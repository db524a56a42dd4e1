# Builds build/Release/alexnet_native.node, the native CPU backend (oneDNN 2.x from the system, e.g.
# Debian's libdnnl-dev). No -march=native: the binary may run on another CPU model, and oneDNN picks its
# kernels (AVX2, AVX-512, AMX) at run time anyway; our own Winograd tile loops are compiled for several
# instruction sets with target_clones (-Wno-psabi: their 64-byte vector helpers are always inlined, so the
# ABI note GCC prints for them does not apply). OpenMP is the runtime oneDNN itself uses on Debian.
# The rpath '$ORIGIN' lets the prebuilt addon (prebuilds/linux-x64/, made by scripts/prepack-native.mjs) find
# the libdnnl.so.2, libgomp.so.1 and libOpenCL.so.1 copied beside it. --disable-new-dtags writes it as
# DT_RPATH rather than DT_RUNPATH because only DT_RPATH also serves the libraries' own dependencies
# (libdnnl needs libgomp and libOpenCL); a source build in build/Release has no copies there, so the
# system's libraries are used as before.
{
  "targets": [
    {
      "target_name": "alexnet_native",
      "sources": [
        "native/addon.cc",
        "native/addon_memory.cc",
        "native/addon_ops.cc",
        "native/addon_layers2.cc",
        "native/tensor.cc",
        "native/cpu_ops.cc",
        "native/pool_relu_gemm_onednn.cc",
        "native/conv_linear_onednn.cc",
        "native/act_pool_onednn.cc",
        "native/bnorm_concat_onednn.cc",
        "native/conv_stacked_3x3.cc",
        "native/conv_winograd_5x5.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17", "-O2", "-O0"],
      "cflags": ["-O3", "-fopenmp"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions", "-Wall", "-Wextra", "-Wno-psabi"],
      "ldflags": ["-fopenmp", "-Wl,--disable-new-dtags,-rpath,'$$ORIGIN'"],
      "libraries": ["-ldnnl"]
    }
  ]
}
