package wire

// IP protocol numbers (the IPv4 Protocol and IPv6 Next Header fields), from
// the IANA registry "Assigned Internet Protocol Numbers".
const (
	IPProtoHopByHop     = 0  // IPv6 Hop-by-Hop Options (RFC 8200 §4.3)
	IPProtoICMP         = 1  // ICMP for IPv4 (RFC 792)
	IPProtoIPv4         = 4  // IPv4 encapsulation (RFC 2003)
	IPProtoTCP          = 6  // TCP (RFC 9293)
	IPProtoUDP          = 17 // UDP (RFC 768)
	IPProtoIPv6         = 41 // IPv6 encapsulation (RFC 2473)
	IPProtoRouting      = 43 // IPv6 Routing header (RFC 8200 §4.4)
	IPProtoFragment     = 44 // IPv6 Fragment header (RFC 8200 §4.5)
	IPProtoESP          = 50 // Encapsulating Security Payload (RFC 4303)
	IPProtoAH           = 51 // Authentication Header (RFC 4302)
	IPProtoICMPv6       = 58 // ICMP for IPv6 (RFC 4443)
	IPProtoNoNextHeader = 59 // IPv6 No Next Header (RFC 8200 §4.7)
	IPProtoDestOpts     = 60 // IPv6 Destination Options (RFC 8200 §4.6)
)
