"""The naive server: FastAPI, a pydantic model of nested lists, one forward pass per request,
FastAPI's default JSON answers. Run: uvicorn naive_server:app (CHECKPOINT in the environment)."""

from __future__ import annotations

import os

import torch
from classic import load
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()
model = load(os.environ["CHECKPOINT"])


class PredictRequest(BaseModel):
    inputs: list[list[list[float]]]


class PredictResponse(BaseModel):
    predictions: list[list[float]]


@app.post("/predict")
def predict(request: PredictRequest) -> PredictResponse:
    with torch.no_grad():
        out = model(torch.tensor(request.inputs, dtype=torch.float32))
    return PredictResponse(predictions=out.tolist())
