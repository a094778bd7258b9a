"""RADIUS code points and limits (RFC 2865, 2866, 2868, 2869, 3162, 3576/5176, 3579, 4072, 5997).

Names follow the RFC text in CamelCase. The wire layer works on plain ``int``; these enums are
for readability and for display.
"""

from __future__ import annotations

from enum import IntEnum

MIN_PACKET = 20
"""RFC 2865 section 3: smallest Length field a packet may carry (header only)."""
MAX_PACKET = 4096
"""RFC 2865 section 3: largest Length field a packet may carry."""
MAX_ATTR_VALUE = 253
"""RFC 2865 section 5: an attribute's Length octet covers type and length, so 255 - 2."""
HEADER_LENGTH = 20
AUTHENTICATOR_LENGTH = 16
MESSAGE_AUTHENTICATOR_LENGTH = 18
"""RFC 3579 section 3.2: type, length and a 16-octet HMAC-MD5."""

AUTH_PORT = 1812
ACCT_PORT = 1813
COA_PORT = 3799

# Vendor (SMI private enterprise) numbers used by the shipped dictionaries.
VENDOR_HPE = 11
VENDOR_CISCO = 9
VENDOR_MICROSOFT = 311
VENDOR_JUNIPER = 2636
VENDOR_ARUBA = 14823
MICROSOFT = VENDOR_MICROSOFT
CISCO = VENDOR_CISCO
ARUBA = VENDOR_ARUBA
JUNIPER = VENDOR_JUNIPER
HPE = VENDOR_HPE


class Code(IntEnum):
    """Packet codes (RFC 2865 section 3, RFC 2866 section 3, RFC 5997, RFC 5176)."""

    AccessRequest = 1
    AccessAccept = 2
    AccessReject = 3
    AccountingRequest = 4
    AccountingResponse = 5
    AccessChallenge = 11
    StatusServer = 12
    StatusClient = 13
    DisconnectRequest = 40
    DisconnectACK = 41
    DisconnectNAK = 42
    CoARequest = 43
    CoAACK = 44
    CoANAK = 45


class AttrType(IntEnum):
    """Standard attribute types (IANA RADIUS Attribute Types registry)."""

    # RFC 2865
    UserName = 1
    UserPassword = 2
    ChapPassword = 3
    NasIpAddress = 4
    NasPort = 5
    ServiceType = 6
    FramedProtocol = 7
    FramedIpAddress = 8
    FramedIpNetmask = 9
    FramedRouting = 10
    FilterId = 11
    FramedMtu = 12
    FramedCompression = 13
    LoginIpHost = 14
    LoginService = 15
    LoginTcpPort = 16
    ReplyMessage = 18
    CallbackNumber = 19
    CallbackId = 20
    FramedRoute = 22
    FramedIpxNetwork = 23
    State = 24
    Class = 25
    VendorSpecific = 26
    SessionTimeout = 27
    IdleTimeout = 28
    TerminationAction = 29
    CalledStationId = 30
    CallingStationId = 31
    NasIdentifier = 32
    ProxyState = 33
    LoginLatService = 34
    LoginLatNode = 35
    LoginLatGroup = 36
    FramedAppleTalkLink = 37
    FramedAppleTalkNetwork = 38
    FramedAppleTalkZone = 39
    # RFC 2866
    AcctStatusType = 40
    AcctDelayTime = 41
    AcctInputOctets = 42
    AcctOutputOctets = 43
    AcctSessionId = 44
    AcctAuthentic = 45
    AcctSessionTime = 46
    AcctInputPackets = 47
    AcctOutputPackets = 48
    AcctTerminateCause = 49
    AcctMultiSessionId = 50
    AcctLinkCount = 51
    # RFC 2869
    AcctInputGigawords = 52
    AcctOutputGigawords = 53
    EventTimestamp = 55
    # RFC 4675
    EgressVlanid = 56
    IngressFilters = 57
    EgressVlanName = 58
    UserPriorityTable = 59
    # RFC 2865
    ChapChallenge = 60
    NasPortType = 61
    PortLimit = 62
    LoginLatPort = 63
    # RFC 2868
    TunnelType = 64
    TunnelMediumType = 65
    TunnelClientEndpoint = 66
    TunnelServerEndpoint = 67
    # RFC 2867
    AcctTunnelConnection = 68
    # RFC 2868
    TunnelPassword = 69
    # RFC 2869
    ArapPassword = 70
    ArapFeatures = 71
    ArapZoneAccess = 72
    ArapSecurity = 73
    ArapSecurityData = 74
    PasswordRetry = 75
    Prompt = 76
    ConnectInfo = 77
    ConfigurationToken = 78
    EapMessage = 79
    MessageAuthenticator = 80
    # RFC 2868
    TunnelPrivateGroupId = 81
    TunnelAssignmentId = 82
    TunnelPreference = 83
    # RFC 2869
    ArapChallengeResponse = 84
    AcctInterimInterval = 85
    # RFC 2867
    AcctTunnelPacketsLost = 86
    # RFC 2869
    NasPortId = 87
    FramedPool = 88
    # RFC 4372
    ChargeableUserIdentity = 89
    # RFC 2868
    TunnelClientAuthId = 90
    TunnelServerAuthId = 91
    # RFC 4849
    NasFilterRule = 92
    # RFC 3162
    NasIpv6Address = 95
    FramedInterfaceId = 96
    FramedIpv6Prefix = 97
    LoginIpv6Host = 98
    FramedIpv6Route = 99
    FramedIpv6Pool = 100
    # RFC 5176 (was RFC 3576)
    ErrorCause = 101
    # RFC 4072
    EapKeyName = 102
    # RFC 4818
    DelegatedIpv6Prefix = 123
    # RFC 6911
    FramedIpv6Address = 168
    DnsServerIpv6Address = 169
    RouteIpv6Information = 170
    DelegatedIpv6PrefixPool = 171
    StatefulIpv6AddressPool = 172


class AcctStatusType(IntEnum):
    """RFC 2866 section 5.1 (and RFC 2867 for the tunnel values)."""

    Start = 1
    Stop = 2
    InterimUpdate = 3
    AccountingOn = 7
    AccountingOff = 8
    TunnelStart = 9
    TunnelStop = 10
    TunnelReject = 11
    TunnelLinkStart = 12
    TunnelLinkStop = 13
    TunnelLinkReject = 14
    Failed = 15


class ServiceType(IntEnum):
    """RFC 2865 section 5.6 (AuthorizeOnly: RFC 5176 section 3.1)."""

    Login = 1
    Framed = 2
    CallbackLogin = 3
    CallbackFramed = 4
    Outbound = 5
    Administrative = 6
    NasPrompt = 7
    AuthenticateOnly = 8
    CallbackNasPrompt = 9
    CallCheck = 10
    CallbackAdministrative = 11
    AuthorizeOnly = 17


class NasPortType(IntEnum):
    """RFC 2865 section 5.41 (values 16-19 from RFC 2869/RFC 3580 era registry)."""

    Async = 0
    Sync = 1
    IsdnSync = 2
    IsdnAsyncV120 = 3
    IsdnAsyncV110 = 4
    Virtual = 5
    Piafs = 6
    HdlcClearChannel = 7
    X25 = 8
    X75 = 9
    G3Fax = 10
    Sdsl = 11
    AdslCap = 12
    AdslDmt = 13
    Idsl = 14
    Ethernet = 15
    Xdsl = 16
    Cable = 17
    WirelessOther = 18
    Wireless80211 = 19


class TerminationAction(IntEnum):
    """RFC 2865 section 5.29."""

    Default = 0
    RadiusRequest = 1


class FramedProtocol(IntEnum):
    """RFC 2865 section 5.7."""

    PPP = 1
    SLIP = 2
    ARAP = 3
    Gandalf = 4
    Xylogics = 5
    X75Synchronous = 6


class TunnelType(IntEnum):
    """RFC 2868 section 3.1 (VLAN: RFC 3580 section 3.31)."""

    PPTP = 1
    L2F = 2
    L2TP = 3
    ATMP = 4
    VTP = 5
    AH = 6
    IPIP = 7
    MinIPIP = 8
    ESP = 9
    GRE = 10
    DVS = 11
    IPinIP = 12
    VLAN = 13


class TunnelMediumType(IntEnum):
    """RFC 2868 section 3.2."""

    IPv4 = 1
    IPv6 = 2
    NSAP = 3
    HDLC = 4
    BBN1822 = 5
    IEEE802 = 6
    E163 = 7
    E164 = 8
    F69 = 9
    X121 = 10
    IPX = 11
    Appletalk = 12
    DecNetIV = 13
    BanyanVines = 14
    E164NSAP = 15
