"""Short comments whose answer is not in doubt: everyday benign ones (greetings, thanks, everyday phrases) that must
come out clean, and clear insults that must come out toxic. Written here, not drawn from any training file."""

BENIGN = [
    "안녕", "안녕하세요", "감사합니다", "고맙습니다", "좋은 아침입니다", "좋은 하루 보내세요", "수고하셨습니다", "잘 자요",
    "반갑습니다", "축하합니다", "생일 축하해요", "맛있게 드세요", "잘 먹겠습니다", "오늘 날씨 좋네요", "내일 봐요", "화이팅",
    "힘내세요", "응원합니다", "사랑해요", "고마워", "괜찮아요", "네 알겠습니다", "좋아요", "멋져요", "최고예요", "건강하세요",
    "행복하세요", "주말 잘 보내세요", "점심 뭐 먹지", "커피 한 잔 할까요", "오랜만이에요", "잘 지내셨어요?",
    "새해 복 많이 받으세요", "즐거운 하루 되세요",
]

INSULTS = [
    "꺼져 병신아", "진짜 개새끼네", "미친놈아 닥쳐", "씨발 뭐하는 짓이야", "너 같은 쓰레기는 죽어야 돼", "존나 못생겼네",
    "닥치고 꺼져라", "정신병자 새끼", "한심한 병신들", "개소리 그만해 미친년아",
]
