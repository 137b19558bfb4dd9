"""kotox_build: demo members -> checkpoints -> ONNX -> Triton model repository."""

from kotox_build.cnn_head import register as _register_cnn_head

_register_cnn_head()  # `kotox-cnn` checkpoints load through transformers' Auto classes once kotox_build is imported
