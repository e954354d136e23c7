import Hummingbird
import GRDB
import JWTKit
import Crypto
import Prometheus
import ServiceLifecycle
import Yams
enum _PlaceholderRuntime {}
