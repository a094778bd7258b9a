"""What a form post on a console page needs, as one dependency: who posted it (with the role
the route asks for), the console, the request and the database session; and the page shown
again with the error beside its field."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from nac.core.errors import AlreadyExistsError
from web.auth import Principal
from web.deps import Console, ConsoleDep, CurrentAdmin, CurrentOperator, SessionDep, page
from web.directory import field_errors

Again = Callable[[dict[str, Any], int], Awaitable[Response]]  # the page with (error, status)


class ErrorPage(Protocol):
    """A page function: ``_users_page(console, request, session, error=..., status=...)``."""

    def __call__(
        self,
        console: Console,
        request: Request,
        session: AsyncSession,
        *,
        error: dict[str, Any] | None = ...,
        status: int = ...,
    ) -> Awaitable[Response]: ...


@dataclass(frozen=True, slots=True)
class FormPost:
    principal: Principal
    console: Console
    request: Request
    session: AsyncSession

    def render(self, template: str, context: dict[str, Any], *, status: int = 200) -> Response:
        response: Response = page(self.console, self.request, template, context, status_code=status)
        return response

    def again(self, show: ErrorPage) -> Again:
        """``show`` for this request, with an error and a status."""

        def shown(error: dict[str, Any], status: int) -> Awaitable[Response]:
            return show(self.console, self.request, self.session, error=error, status=status)

        return shown


async def created(
    create: Callable[[], Awaitable[object]],
    again: Again,
    *,
    values: dict[str, Any],
    key: str = "name",
    value_field: str = "",
    form: str = "new",
) -> Response | None:
    """Run ``create`` (it builds the model, then stores it): None when it did, else the page
    again with the errors beside their fields: the model's (422), ``key`` already taken (409),
    and with ``value_field`` a ValueError about that field (422, a group name of a user)."""
    try:
        await create()
    except ValidationError as exc:
        return await again({"form": form, "fields": field_errors(exc), "values": values}, 422)
    except AlreadyExistsError as exc:
        return await again({"form": form, "fields": {key: str(exc)}, "values": values}, 409)
    except ValueError as exc:
        if not value_field:
            raise
        return await again({"form": form, "fields": {value_field: str(exc)}, "values": values}, 422)
    return None


async def _admin_post(
    principal: CurrentAdmin, console: ConsoleDep, request: Request, session: SessionDep
) -> FormPost:
    return FormPost(principal, console, request, session)


async def _operator_post(
    principal: CurrentOperator, console: ConsoleDep, request: Request, session: SessionDep
) -> FormPost:
    return FormPost(principal, console, request, session)


AdminPost = Annotated[FormPost, Depends(_admin_post)]  # refused unless role admin
OperatorPost = Annotated[FormPost, Depends(_operator_post)]  # operator or admin
