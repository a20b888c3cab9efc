"""Settings are checked once, at start: a bad value stops the process instead of failing requests later."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chronohook.settings import Settings


@pytest.mark.parametrize("allow", ["", "127.0.0.2/32", " 10.0.0.0/8 , ::1/128 ", "127.0.0.0/8,::1/128,"])
def test_a_list_of_cidr_networks_is_a_valid_egress_allow_list(allow: str) -> None:
    # Given / When settings with that allow list
    settings = Settings(egress_allow=allow)
    # Then they are built, with the text as given
    assert settings.egress_allow == allow


@pytest.mark.parametrize("allow", ["localhost", "10.0.0.0/33", "127.0.0.1/8/1", "10.0.0.0/8,nonsense"])
def test_an_entry_that_is_not_a_cidr_network_stops_the_settings(allow: str) -> None:
    # Given an allow list with a typo
    # When the process builds its settings
    with pytest.raises(ValidationError) as caught:
        Settings(egress_allow=allow)
    # Then it fails at once, naming the variable
    assert "CHRONOHOOK_EGRESS_ALLOW" in str(caught.value)
