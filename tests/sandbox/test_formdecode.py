"""Stripe's nested form encoding, as the SDK writes it."""

from __future__ import annotations

import pytest

from sandbox.stripe.errors import StripeError
from sandbox.stripe.formdecode import decode_form


def test_nested_objects_lists_and_blanks() -> None:
    body = (
        "amount=2000&metadata[contract_id]=c-1&metadata[note]="
        "&capabilities[transfers][requested]=true"
        "&payment_method_types[0]=card&expand[1]=b&expand[0]=a&expand2[]=x&expand2[]=y"
        "&evidence[uncategorized_text]=a%26b%3Dc"
    )
    assert decode_form(body) == {
        "amount": "2000",
        "metadata": {"contract_id": "c-1", "note": ""},
        "capabilities": {"transfers": {"requested": "true"}},
        "payment_method_types": ["card"],
        "expand": ["a", "b"],
        "expand2": ["x", "y"],
        "evidence": {"uncategorized_text": "a&b=c"},
    }


def test_list_of_objects() -> None:
    assert decode_form("items[0][price]=p1&items[1][price]=p2&items[1][quantity]=3") == {
        "items": [{"price": "p1"}, {"price": "p2", "quantity": "3"}]
    }


def test_conflicting_shapes_are_refused() -> None:
    with pytest.raises(StripeError) as caught:
        decode_form("metadata=x&metadata[a]=b")
    assert caught.value.status == 400
