"""Image errors raised by :mod:`app.ml.preprocess` and model-store errors.

Each carries the HTTP status and error code the API answers with: one handler
(app/errors.py) maps them all, so callers raise them and never re-map them.
"""

from __future__ import annotations


class ImageError(Exception):
    """Base class: the uploaded bytes cannot be turned into a digit image."""

    http_status: int = 400
    code: str = "image_error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__ or self.code)

    @property
    def message(self) -> str:
        return str(self)


class EmptyImage(ImageError):
    """No image data was sent."""

    http_status = 400
    code = "empty_image"


class UnreadableImage(ImageError):
    """The data is not a readable image (corrupt, truncated or not an image)."""

    http_status = 415
    code = "unreadable_image"


class UnsupportedFormat(ImageError):
    """The image format is not accepted (allowed: PNG, JPEG, BMP, GIF, TIFF, WEBP)."""

    http_status = 415
    code = "unsupported_format"


class ImageTooLarge(ImageError):
    """The image has too many pixels."""

    http_status = 413
    code = "image_too_large"


class BlankImage(ImageError):
    """No digit (ink) was found in the image."""

    http_status = 422
    code = "blank_image"


class ModelError(Exception):
    """Base class for model-store failures."""

    http_status: int = 503
    code: str = "model_error"

    @property
    def message(self) -> str:
        return str(self)


class ModelNotFound(ModelError, LookupError):
    """No registered model version behind the requested alias or version."""

    # A service without its model is unavailable (503), not a missing resource: the client asked
    # for a route that exists. The code is the one clients of /api/<version>/predict know.
    http_status = 503
    code = "model_unavailable"

    @property
    def message(self) -> str:
        return f"{self} (run `flask models bootstrap`)."


class ModelUnavailable(ModelError):
    """The model registry or the model artifact cannot be reached or loaded."""

    http_status = 503
    code = "model_unavailable"
