from kiosk.backend_client.client import HostClient

__all__ = ["HostClient"]
