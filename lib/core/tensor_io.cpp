#include "core/tensor_io.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include "core/error.h"

#ifdef HONE_WITH_CUDA
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>

#include "core/dequant_cuda.h"
#endif

namespace hone {

c10::ScalarType to_scalar_type(DType t) {
  switch (t) {
    case DType::kBool: return at::kBool;
    case DType::kU8: return at::kByte;
    case DType::kI8: return at::kChar;
    case DType::kI16: return at::kShort;
    case DType::kF16: return at::kHalf;
    case DType::kBF16: return at::kBFloat16;
    case DType::kI32: return at::kInt;
    case DType::kF32: return at::kFloat;
    case DType::kF64: return at::kDouble;
    case DType::kI64: return at::kLong;
    case DType::kU16: return at::kUInt16;
    case DType::kU32: return at::kUInt32;
    case DType::kU64: return at::kUInt64;
    case DType::kF8E4M3: return at::kFloat8_e4m3fn;
    case DType::kF8E5M2: return at::kFloat8_e5m2;
  }
  HONE_THROW(InputError, "unknown dtype");
}

at::Tensor to_tensor(const TensorView& view, std::shared_ptr<const MappedFile> mapping) {
  const auto type = to_scalar_type(view.dtype);
  const auto opts = at::TensorOptions().dtype(type).device(at::kCPU);
  const auto addr = reinterpret_cast<std::uintptr_t>(view.data);
  if (view.nbytes == 0) return at::empty(view.shape, opts);
  if (addr % dtype_size(view.dtype) != 0) {
    at::Tensor t = at::empty(view.shape, opts);
    std::memcpy(t.data_ptr(), view.data, view.nbytes);
    return t;
  }
  void* p = const_cast<std::byte*>(view.data);  // private copy-on-write mapping (fs.h)
  return at::from_blob(p, view.shape, [keep = std::move(mapping)](void*) mutable { keep.reset(); }, opts);
}

bool cuda_available() {
#ifdef HONE_WITH_CUDA
  return c10::cuda::device_count() > 0;
#else
  return false;
#endif
}

at::Tensor to_tensor_f32(const GGUFFile& file, const GGUFTensorInfo& info, c10::Device device) {
  if (device.is_cuda()) {
#ifdef HONE_WITH_CUDA
    const auto raw_opts = at::TensorOptions().dtype(at::kByte);
    at::Tensor raw = at::from_blob(const_cast<std::byte*>(info.data), {static_cast<std::int64_t>(info.nbytes)}, raw_opts)
                         .to(device, /*non_blocking=*/false, /*copy=*/true);
    at::Tensor out = at::empty(info.shape(), at::TensorOptions().dtype(at::kFloat).device(device));
    if (info.type == GGMLType::kF32) return raw.view(at::kFloat).view(info.shape());
    const bool ok = cuda::launch_dequantize(static_cast<std::uint32_t>(info.type), raw.data_ptr(),
                                            out.data_ptr<float>(), info.numel(),
                                            c10::cuda::getCurrentCUDAStream(device.index()).stream());
    HONE_CHECK(ok, InputError, "{}: tensor '{}': no CUDA dequantisation for GGML type {}", file.path().string(),
               info.name, ggml_type_name(info.type));
    return out;
#else
    HONE_THROW(UsageError, "this hone build has no CUDA support (configure with -DHONE_CUDA=ON)");
#endif
  }
  at::Tensor t = at::empty(info.shape(), at::TensorOptions().dtype(at::kFloat));
  file.dequantize(info, t.data_ptr<float>());
  return t;
}

}  // namespace hone
