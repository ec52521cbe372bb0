// layers:N students of every family (distill.h layer_student): the kept layers under new
// indices, each with its attention kind (gemma3's local/global), and the rest of the model as is.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "distill/distill.h"
#include "model/decoder.h"
#include "model/model_fixtures.h"

namespace hone {
namespace {

class LayerStudentFamilies : public ::testing::TestWithParam<std::string> {};

// The student's first layer is the teacher's first layer, on the same embeddings: its output must
// be the teacher's, exactly; its later layers are the teacher's later ones, renumbered.
TEST_P(LayerStudentFamilies, KeptLayersComputeAsInTheTeacher) {
  c10::InferenceMode guard;
  const ModelWeights teacher_weights = test::random_weights(test::tiny_config(GetParam()), 3);
  const std::int64_t last = teacher_weights.config.num_hidden_layers - 1;
  Decoder teacher(teacher_weights);
  Decoder student(layer_student(teacher_weights, {0, last}));
  ASSERT_EQ(student.config().num_hidden_layers, 2);
  EXPECT_EQ(student.config().layer_slides(1), teacher.config().layer_slides(last));
  const auto t = teacher.named_weights(), s = student.named_weights();
  for (const auto& [name, w] : s) {
    const std::string from = name.rfind("model.layers.1.", 0) == 0
                                 ? "model.layers." + std::to_string(last) + name.substr(std::string("model.layers.1").size())
                                 : name;
    ASSERT_TRUE(t.count(from)) << name;
    EXPECT_TRUE(w.equal(t.at(from))) << name << " is not the teacher's " << from;
  }
  ForwardInput in;
  in.input_ids = at::arange(0, 20, at::kLong).unsqueeze(0) * 7 % teacher.config().vocab_size;
  std::vector<at::Tensor> mine, theirs;
  in.layer_outputs = &mine;
  student.forward_hidden(in);
  in.layer_outputs = &theirs;
  teacher.forward_hidden(in);
  EXPECT_TRUE(mine[0].equal(theirs[0]));
}

INSTANTIATE_TEST_SUITE_P(Families, LayerStudentFamilies,
                         ::testing::Values("llama", "qwen2", "mistral", "qwen3", "gemma3", "phi3"));

}  // namespace
}  // namespace hone
