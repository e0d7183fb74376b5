from nncf_core.app import Core
from nncf_core.console import Console
from nncf_core.services.users import UserKey


def test_console_rates_lists_and_explains_errors(core: Core) -> None:
    console = Console(core, UserKey.parse("carol"))
    assert console.execute('/rate "Toy Story" 4.5') == "Rated Toy Story (1995): 4.5 stars."
    assert console.execute("/rate Toy Story 4") == "Rated Toy Story (1995): 4 stars (was 4.5)."
    assert "Toy Story (1995)" in console.execute("/ratings")
    assert "half steps" in console.execute('/rate "Jumanji" 4.2')
    assert "Unknown command" in console.execute("/nope")
    assert "Could not parse" in console.execute('/rate "Toy')
    assert "community: 4.00 stars from 1 ratings" in console.execute("/movie Toy Story")
