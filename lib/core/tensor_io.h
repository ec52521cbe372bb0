// Bridges stored tensors (safetensors views, GGUF tensors) to ATen tensors.
// Kept out of the format headers so that only model-loading code pays for the ATen include.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>

#include "core/gguf.h"
#include "core/safetensors.h"

namespace hone {

// A CPU tensor of the stored dtype. Zero-copy over the mapped file when the data is aligned for
// its element type (the mapping is kept alive by the tensor); otherwise copied. The mapping is
// private copy-on-write, so writing to the tensor never changes the file.
at::Tensor to_tensor(const TensorView& view, std::shared_ptr<const MappedFile> mapping);

// The GGUF tensor dequantised to a new float32 tensor of torch-order shape on `device`. On a CUDA
// device the stored blocks are uploaded as they are and dequantised there (dequant_cuda.h).
at::Tensor to_tensor_f32(const GGUFFile& file, const GGUFTensorInfo& info, c10::Device device = c10::kCPU);

// Whether this build has the CUDA kernels and a GPU is visible.
bool cuda_available();

c10::ScalarType to_scalar_type(DType t);  // InputError for dtypes torch has no type for

}  // namespace hone
