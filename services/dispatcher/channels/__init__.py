"""Delivery channels, one module per push way (Bark, e-mail, WeChat, webhook), behind `base.Channel`."""
