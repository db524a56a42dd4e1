# Builds alexnet_mpi.node, the optional Open MPI addon for `alexnet train --distributed`
# (scripts/build-mpi.mjs runs it only where Open MPI's compiler wrapper exists, and copies the result to
# build/Release/). MPI's include and link flags come from mpicxx; only the C API is used (no -lmpi_cxx).
{
  "targets": [
    {
      "target_name": "alexnet_mpi",
      "sources": ["mpi.cc", "comm.cc", "liveness.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "<!@(node -p \"process.env.ALEXNET_MPI_INCLUDES || ''\")"],
      "defines": ["OMPI_SKIP_MPICXX", "NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17", "-O0"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-Wall", "-Wextra"],
      "libraries": ["<!@(node -p \"process.env.ALEXNET_MPI_LIBS || '-lmpi'\")", "-ldl", "-lpthread"]
    }
  ]
}
