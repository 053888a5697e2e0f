"""Web routes of this capability (API under /api/v1 and staff pages). Placeholder until it is built."""

from fastapi import APIRouter

router = APIRouter()
