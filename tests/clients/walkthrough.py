"""A web shop team's first hour with Stockline, through the Python client
generated from the OpenAPI document a running central serves
(`openapi-python-client`). Type-checked with mypy (strict) before it runs:
a document whose types the generator drops or renames breaks the check.

Run by `cargo xtask test` as: python walkthrough.py URL ADMIN_KEY
"""

import sys
import uuid
from typing import TypeVar

from stockline_client import AuthenticatedClient, Client
from stockline_client.api.admin import create_channel, create_product, create_store, set_stock
from stockline_client.api.auth import sign_in
from stockline_client.api.holds import commit_hold, get_hold, place_hold
from stockline_client.api.replication import get_changes
from stockline_client.api.stock import adjust_stock
from stockline_client.models import (
    AdjustRequest,
    AdjustResult,
    AdminSignIn,
    ChangesPage,
    ChannelCredentials,
    ChannelSignIn,
    Hold,
    HoldLineRequest,
    HoldState,
    MostAvailable,
    MostAvailablePolicy,
    NewChannel,
    NewProduct,
    NewStore,
    PlaceHoldRequest,
    Problem,
    Product,
    SetStockRequest,
    SetStockResult,
    StockAdjustedEvent,
    StoreCredentials,
    StoreSignIn,
    TokenResponse,
)
from stockline_client.models.commit_hold_request import CommitHoldRequest
from stockline_client.types import Response


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"walkthrough: {what}")


def token(base: str, credentials: AdminSignIn | StoreSignIn | ChannelSignIn) -> AuthenticatedClient:
    answer = sign_in.sync(client=Client(base_url=base), body=credentials)
    check(isinstance(answer, TokenResponse), f"sign-in answered {answer!r}")
    assert isinstance(answer, TokenResponse)
    return AuthenticatedClient(base_url=base, token=answer.access_token)


T = TypeVar("T")


def ok(response: Response[T | Problem], kind: type[T], what: str) -> T:
    parsed = response.parsed
    check(isinstance(parsed, kind), f"{what}: {response.status_code} {parsed!r}")
    assert isinstance(parsed, kind)
    return parsed


def main(base: str, admin_key: str) -> None:
    run = uuid.uuid4().hex[:8]
    store_id, sku, channel_id = f"py-{run}", f"PY-{run}", f"py-shop-{run}"
    admin = token(base, AdminSignIn(api_key=admin_key))

    # Set-up, as an admin: a store, a product, five on the shelf.
    store = ok(
        create_store.sync_detailed(client=admin, body=NewStore(store_id=store_id, name="Python")),
        StoreCredentials,
        "registering a store",
    )
    ok(
        create_product.sync_detailed(
            client=admin, body=NewProduct(sku=sku, name="Kettle", price_cents=2_500)
        ),
        Product,
        "creating a product",
    )
    ok(
        set_stock.sync_detailed(store_id, sku, client=admin, body=SetStockRequest(on_hand=5)),
        SetStockResult,
        "setting the stock",
    )

    # A sale, as the store.
    till = token(base, StoreSignIn(client_id=store_id, client_secret=store.client_secret))
    key = f"sale-{run}"
    sale = AdjustRequest(sku=sku, delta=-1)
    sold = adjust_stock.sync_detailed(store_id, client=till, body=sale, idempotency_key=key)
    first = ok(sold, AdjustResult, "a sale")
    check(first.available == 4, f"after a sale 4 are left, not {first.available}")
    check("idempotent-replayed" not in sold.headers, "a first sale is no replay")

    # The same sale again (a retry): the saved answer, marked, not a second sale.
    again = adjust_stock.sync_detailed(store_id, client=till, body=sale, idempotency_key=key)
    check(again.status_code == 200, f"a replay answered {again.status_code}")
    check(again.headers.get("idempotent-replayed") == "true", "a replay says so")
    check(ok(again, AdjustResult, "a replay").available == 4, "a replay sells nothing more")

    # The same key with another payload: 422, a problem with its code.
    reused = adjust_stock.sync_detailed(
        store_id, client=till, body=AdjustRequest(sku=sku, delta=-2), idempotency_key=key
    )
    problem = reused.parsed
    check(reused.status_code == 422, f"a reused key answered {reused.status_code}")
    check(
        isinstance(problem, Problem) and problem.code == "idempotency_key_reused",
        f"a reused key's problem: {problem!r}",
    )

    # A refusal: more than the shelf holds.
    refused = adjust_stock.sync_detailed(
        store_id,
        client=till,
        body=AdjustRequest(sku=sku, delta=-50),
        idempotency_key=f"too-many-{run}",
    )
    problem = refused.parsed
    check(refused.status_code == 409, f"overselling answered {refused.status_code}")
    check(
        isinstance(problem, Problem) and problem.code == "insufficient_stock",
        f"overselling's problem: {problem!r}",
    )

    # The change log, as the store reads it: the sale is there, typed.
    page = ok(get_changes.sync_detailed(client=till, from_=0), ChangesPage, "a changes page")
    sales = [e for e in page.events if isinstance(e, StockAdjustedEvent) and e.sku == sku]
    check(len(sales) == 1, f"one sale in the log, not {len(sales)}")
    check(sales[0].delta == -1 and sales[0].idempotency_key == key, f"the sale's event: {sales[0]!r}")

    # A hold, as a sales channel: placed, read back, committed.
    credentials = ok(
        create_channel.sync_detailed(
            client=admin, body=NewChannel(channel_id=channel_id, name="Python shop")
        ),
        ChannelCredentials,
        "registering a channel",
    )
    shop = token(
        base, ChannelSignIn(channel_id=channel_id, channel_secret=credentials.channel_secret)
    )
    order = PlaceHoldRequest(
        reference=f"order-{run}",
        lines=[HoldLineRequest(sku=sku, quantity=2)],
        allocation=MostAvailable(policy=MostAvailablePolicy.MOST_AVAILABLE),
    )
    hold = ok(
        place_hold.sync_detailed(client=shop, body=order, idempotency_key=f"hold-{run}"),
        Hold,
        "placing a hold",
    )
    check(hold.state == HoldState.ACTIVE, f"a placed hold is active: {hold.state}")
    check([line.store_id for line in hold.lines] == [store_id], "held at the store")
    read = ok(get_hold.sync_detailed(hold.hold_id, client=shop), Hold, "reading the hold")
    check(read.hold_id == hold.hold_id, "the hold reads back")
    committed = ok(
        commit_hold.sync_detailed(
            hold.hold_id, client=shop, body=CommitHoldRequest(), idempotency_key=f"commit-{run}"
        ),
        Hold,
        "committing the hold",
    )
    check(committed.state == HoldState.COMMITTED, f"committed: {committed.state}")
    print(f"walkthrough: sale, replay, reused key, refusal, changes and a hold through the Python client against {base}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: walkthrough.py URL ADMIN_KEY")
    main(sys.argv[1], sys.argv[2])
