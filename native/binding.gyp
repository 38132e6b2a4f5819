{
  "targets": [
    {
      "target_name": "lape_native",
      "sources": [
        "src/addon.cc",
        "src/dnnl_common.cc",
        "src/matmul.cc",
        "src/matmul_strided.cc",
        "src/cast.cc",
        "src/eltwise.cc",
        "src/binary.cc",
        "src/reduce.cc",
        "src/copy.cc",
        "src/softmax.cc",
        "src/layernorm.cc",
        "src/dropout.cc",
        "src/conv.cc",
        "src/gather.cc",
        "src/optim.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "cflags_cc+": ["<!@(node dnnl-config.mjs cflags)"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-O2", "-O0"],
      "cflags": ["-O3", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-fvisibility=hidden"],
      "cflags_cc": ["-std=gnu++17", "-fexceptions", "-frtti", "-Wall", "-Wno-unknown-pragmas", "-Wno-psabi"],
      "ldflags": ["-fopenmp"],
      "libraries": ["<!@(node dnnl-config.mjs libs)", "-fopenmp"]
    }
  ]
}
