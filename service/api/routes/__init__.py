"""Route modules, one APIRouter each."""
