"""rnnrun's reference exporter: trains the tutorial's Keras/TensorFlow LSTMs and writes
ONNX files, SavedModels and golden vectors that follow models/export/README.md."""

__version__ = "1.0.0"
