"""Model families shared by reproductions."""

from dlrepro.models.cnn import AlexNetStyleCNN, CNNConfig, build_cnn, config_from_settings

__all__ = ["AlexNetStyleCNN", "CNNConfig", "build_cnn", "config_from_settings"]
