"""Export a trained linreg model to TorchScript, ONNX and torch.export, and prove each predicts alike.

Depends only on `linreg`.
"""
