{
  "targets": [
    {
      "target_name": "lape_mpi",
      "sources": ["../src/mpi/lape_mpi.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "OMPI_SKIP_MPICXX=1"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14"],
      "cflags_cc": [
        "-std=gnu++17",
        "-fexceptions",
        "-Wall",
        "-fvisibility=hidden",
        "<!@(node ../../scripts/build-mpi.mjs --flags compile)"
      ],
      "libraries": ["<!@(node ../../scripts/build-mpi.mjs --flags link)", "-ldl"]
    }
  ]
}
