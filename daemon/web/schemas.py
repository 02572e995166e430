"""The API's request bodies as Pydantic models: FastAPI checks each against its model, and
the models are the bodies' OpenAPI schema. Strict types: `"yes"` is not a boolean here."""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictBool, StrictStr

from secondself.memory.model import Visibility


class NewMemory(BaseModel):
    text: StrictStr = Field(description="what to remember, word for word")
    shared: StrictBool = Field(False, description="seen by every persona of the user")


class VisibilityChange(BaseModel):
    visibility: Visibility = Field(description="private: this persona only; shared: all")


class Correction(BaseModel):
    text: StrictStr = Field(description="what the last answer should have said")
